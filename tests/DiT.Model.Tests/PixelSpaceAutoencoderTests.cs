using static TorchSharp.torch;

namespace DiT.Model.Tests;

public sealed class PixelSpaceAutoencoderTests
{
    [Fact]
    public void LatentsAreTheImagesAndDecodeClampsToMinusOneOne()
    {
        using IAutoencoder ae = new PixelSpaceAutoencoder(imageChannels: 1);
        using var images = tensor(new float[] { -1f, -0.25f, 0.5f, 1f }).reshape(1, 1, 2, 2);
        using var outOfRange = tensor(new float[] { -3f, -0.25f, 0.5f, 2f }).reshape(1, 1, 2, 2);

        using var latents = ae.EncodeToLatents(images);
        using var decoded = ae.DecodeLatents(outOfRange);

        Assert.Equal((1, 1, 1, 1.0), (ae.DownsampleFactor, ae.LatentChannels, ae.ImageChannels, ae.ScalingFactor));
        Assert.True(latents.equal(images).all().item<bool>());
        Assert.True(decoded.equal(images).all().item<bool>());
        Assert.NotEqual(images.Handle, latents.Handle);
    }

    [Fact]
    public void WrongChannelCountIsRejected()
    {
        using var ae = new PixelSpaceAutoencoder(imageChannels: 3);
        using var grey = zeros(2, 1, 28, 28);

        var error = Assert.Throws<ArgumentException>(() => ae.DecodeLatents(grey));

        Assert.Contains("(N, 3, H, W)", error.Message);
    }
}
