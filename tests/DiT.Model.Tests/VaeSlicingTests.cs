using DiT.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>Slicing a batch bounds memory without changing results; the inference helpers leak nothing.</summary>
public sealed class VaeSlicingTests
{
    readonly GoldenCase _decode = Golden.Default.Case("vae_decode");

    [Fact]
    public void SlicedDecodeEqualsWholeBatchDecode()
    {
        using var vae = VaeGolden.Load(_decode);
        using var latents = randn(5, 4, 8, 8, generator: new Generator(7));

        vae.SliceSize = 5;
        using var whole = vae.DecodeLatents(latents);
        vae.SliceSize = 2;
        using var sliced = vae.DecodeLatents(latents);

        Assert.Equal([5L, 3, 16, 16], sliced.shape);
        Assert.True(sliced.allclose(whole, rtol: 1e-5, atol: 1e-6), $"max |diff| {(sliced - whole).abs().max().item<float>()}");
    }

    [Fact]
    public void SlicedEncodeWithTheSameSeedEqualsWholeBatchEncode()
    {
        using var vae = VaeGolden.Load(_decode);
        using var images = rand(5, 3, 16, 16, generator: new Generator(3)).mul_(2).sub_(1);

        vae.SliceSize = 8;
        using var whole = vae.EncodeToLatents(images, new Generator(11));
        vae.SliceSize = 3;
        using var sliced = vae.EncodeToLatents(images, new Generator(11));

        Assert.Equal([5L, 4, 8, 8], sliced.shape);
        Assert.True(sliced.allclose(whole, rtol: 1e-5, atol: 1e-5), $"max |diff| {(sliced - whole).abs().max().item<float>()}");
    }

    [Fact]
    public void EncodeToLatentsIsThePosteriorSampleTimesTheScalingFactor()
    {
        using var vae = VaeGolden.Load(_decode);
        using var images = rand(2, 3, 16, 16, generator: new Generator(5)).mul_(2).sub_(1);

        using var latents = vae.EncodeToLatents(images, new Generator(9));
        using var posterior = vae.Encode(images);
        using var sample = posterior.Sample(new Generator(9));

        Assert.True(latents.allclose(sample.mul(vae.ScalingFactor), rtol: 1e-6, atol: 0));
        Assert.False(latents.requires_grad);
    }

    [Fact]
    public void SliceSizeBelowOneIsRejected()
    {
        using var vae = VaeGolden.Load(_decode);

        Assert.Throws<ArgumentOutOfRangeException>(() => vae.SliceSize = 0);
    }

    [Fact]
    public void WrongLatentChannelsAreRejectedWithTheExpectedShape()
    {
        using var vae = VaeGolden.Load(_decode);
        using var latents = zeros(1, 3, 8, 8);

        var error = Assert.Throws<ArgumentException>(() => vae.DecodeLatents(latents));

        Assert.Contains("(N, 4, H, W)", error.Message);
    }

    [Fact]
    public void DecodeAndEncodeLeaveNoLiveTensorsBehind()
    {
        using var vae = VaeGolden.Load(_decode);
        using var latents = randn(3, 4, 8, 8);
        using var images = rand(3, 3, 16, 16);
        vae.SliceSize = 2;
        RoundTrip();                                                            // warm-up

        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) RoundTrip();
        GC.KeepAlive(latents);

        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);

        void RoundTrip()
        {
            using var decoded = vae.DecodeLatents(latents);
            using var encoded = vae.EncodeToLatents(images, new Generator(1));
        }
    }
}
