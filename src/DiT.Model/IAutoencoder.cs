using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>
/// Maps images in [-1, 1] to the space a DiT is trained in and back. Latents are already multiplied by
/// <see cref="ScalingFactor"/>, so a sampler's output goes straight into <see cref="DecodeLatents"/>.
/// Both calls run without autograd, move the input to the autoencoder's device and dtype, and return a new
/// tensor there (the caller's input is never disposed).
/// </summary>
public interface IAutoencoder : IDisposable
{
    /// <summary>Image side / latent side (8 for the SD VAE, 1 in pixel space).</summary>
    int DownsampleFactor { get; }

    int LatentChannels { get; }

    int ImageChannels { get; }

    /// <summary>Latents are posterior samples times this (0.18215 for the SD VAE).</summary>
    double ScalingFactor { get; }

    /// <summary>(N, LatentChannels, h, w) scaled latents -> (N, ImageChannels, h*f, w*f) images clamped to [-1, 1].</summary>
    Tensor DecodeLatents(Tensor latents);

    /// <summary>(N, ImageChannels, H, W) images in [-1, 1] -> (N, LatentChannels, H/f, W/f) posterior sample times <see cref="ScalingFactor"/>.</summary>
    Tensor EncodeToLatents(Tensor images, Generator? generator = null);
}
