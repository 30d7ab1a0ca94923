using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>
/// The identity "autoencoder" for DiTs trained directly on pixels (small data sets such as 28x28 grey
/// Fashion-MNIST, tests): latents are the images themselves, decode only clamps to [-1, 1].
/// </summary>
public sealed class PixelSpaceAutoencoder : IAutoencoder
{
    public PixelSpaceAutoencoder(int imageChannels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(imageChannels, 1);
        ImageChannels = imageChannels;
    }

    public int DownsampleFactor => 1;
    public int LatentChannels => ImageChannels;
    public int ImageChannels { get; }
    public double ScalingFactor => 1.0;

    public Tensor DecodeLatents(Tensor latents)
    {
        Check(latents, "latents");
        using var detached = latents.detach();
        return detached.Clamped(-1.0, 1.0);                                       // (N, C, H, W), a new tensor
    }

    /// <summary>A copy of the images: pixel space has no posterior to sample, so the generator is unused.</summary>
    public Tensor EncodeToLatents(Tensor images, Generator? generator = null)
    {
        Check(images, "images");
        using var detached = images.detach();
        return detached.clone();                                                // (N, C, H, W)
    }

    public void Dispose() { }

    void Check(Tensor x, string what)
    {
        if (x.dim() != 4 || x.shape[1] != ImageChannels)
            throw new ArgumentException($"Expected {what} shaped (N, {ImageChannels}, H, W); got [{string.Join(", ", x.shape)}].", what);
    }
}
