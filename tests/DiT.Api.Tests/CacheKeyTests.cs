using DiT.Api.Caching;
using DiT.Api.Imaging;
using DiT.Diffusion;
using DiT.Serving.Engine;

namespace DiT.Api.Tests;

/// <summary>Cache keys are stored in Redis across versions: a key that changes its spelling loses every stored image.</summary>
public sealed class CacheKeyTests
{
    [Theory]
    [InlineData(SamplerKind.Ddpm, GuidanceMode.Reference, "reference:ddpm")]
    [InlineData(SamplerKind.Ddim, GuidanceMode.AllChannels, "all-channels:ddim")]
    [InlineData(SamplerKind.DpmSolverPP2M, GuidanceMode.Reference, "reference:dpmpp2m")] // not the wire name dpmpp-2m
    public void KeysKeepTheSpellingOfTheEntriesAlreadyStored(SamplerKind sampler, GuidanceMode mode, string spelled)
    {
        var request = new GenerationRequest(3, 2.0, 20, sampler, 42, new GuidanceInterval(0.3, 5));

        var key = DistributedImageCache.KeyOf(new ImageKey("0123456789abcdef", "cuda:1", "float32", mode, request) { Output = OutputFormat.Png });

        Assert.Equal($"dit:png:v2:0123456789abcdef:cuda:float32:{spelled}:20:3:2:42:0.3-5:png", key);
    }
}
