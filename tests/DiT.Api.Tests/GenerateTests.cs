using System.Net;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Api.Tests;

public sealed class GenerateTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task GenerateReturnsPngOfTheModelsResolutionWithSeedAndTimingHeaders()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.GenerateAsync(new { classId = 1, seed = 5, steps = 2 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        using var image = Image.Load<Rgb24>(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal((8, 8), (image.Width, image.Height));
        Assert.Equal("5", response.Header("X-Seed"));
        Assert.True(double.Parse(response.Header("X-Generate-Ms")) >= 0);
        Assert.True(double.Parse(response.Header("X-Queue-Ms")) >= 0);
        Assert.Equal("off", response.Header("X-Cache")); // this factory runs without a cache
    }

    [Fact]
    public async Task GenerateWithOnlyAClassNameDrawsASeedAndAppliesDefaults()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.GenerateAsync(new { className = "PUPPY" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(long.TryParse(response.Header("X-Seed"), out _));
    }

    [Fact]
    public async Task SameSeedGivesIdenticalBytesAloneAndInsideABatchOfOtherRequests()
    {
        var client = await factory.ReadyClientAsync();
        var target = new { classId = 2, guidanceScale = 3.0, steps = 3, sampler = "ddpm", seed = 1234 };
        var alone = await client.GenerateAsync(target);
        var aloneBytes = await alone.Content.ReadAsByteArrayAsync();

        var others = new object[]
        {
            new { classId = 0, guidanceScale = 1.0, steps = 3, sampler = "ddpm", seed = 1 },
            new { classId = 3, guidanceScale = 6.5, steps = 3, sampler = "ddpm", seed = 99 },
            new { classId = 2, guidanceScale = 3.0, steps = 3, sampler = "ddpm", seed = 1235 },
        };
        var all = await factory.Probe.GenerateTogetherAsync(client, others.Prepend(target)); // the four start together

        Assert.All(all, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal("1", alone.Header("X-Batch-Size"));
        Assert.Equal("4", all[0].Header("X-Batch-Size"));
        Assert.Equal(aloneBytes, await all[0].Content.ReadAsByteArrayAsync());
        Assert.NotEqual(aloneBytes, await all[3].Content.ReadAsByteArrayAsync()); // another seed, another image
    }

    [Theory]
    [InlineData("ddpm")]
    [InlineData("ddim")]
    [InlineData("dpmpp-2m")]
    public async Task EverySamplerProducesAnImage(string sampler)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.GenerateAsync(new { classId = 0, steps = 2, sampler, seed = 3 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var image = Image.Load<Rgb24>(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(8, image.Width);
    }

    [Fact]
    public async Task DifferentStepCountsDoNotShareABatch()
    {
        var client = await factory.ReadyClientAsync();
        var responses = await Task.WhenAll(
            client.GenerateAsync(new { classId = 0, steps = 2, seed = 1 }),
            client.GenerateAsync(new { classId = 0, steps = 4, seed = 1 }));

        Assert.All(responses, r => Assert.Equal("1", r.Header("X-Batch-Size")));
    }
}
