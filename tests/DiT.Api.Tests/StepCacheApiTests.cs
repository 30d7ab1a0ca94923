using System.Net;
using System.Net.Http.Json;
using DiT.Diffusion;
using DiT.Model.StepCaching;
using DiT.Serving.Engine;

namespace DiT.Api.Tests;

/// <summary>The per-request `cache` field: pass counts, image cache keys, and a seed's image whoever shares its steps.</summary>
public sealed class StepCacheApiTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    static GenerationRequest Cached(GenerationRequest request, string cache) => request with { Cache = StepCacheSettings.Parse(cache) };

    [Theory]
    [InlineData("off", 3.0, "8/8")]
    [InlineData("fora:2", 3.0, "4/8")]   // each guidance branch runs at calls 0 and 2 of 4
    [InlineData("fora:3", 1.0, "2/4")]   // unguided: one branch, calls 0 and 3
    [InlineData("taylor:4", 3.0, "2/8")]
    public async Task ModelPassesHeaderSaysHowManyPassesRanInFull(string cache, double guidanceScale, string passes)
    {
        var client = await factory.ReadyClientAsync();
        // guidanceInterval []: both branches at every step, whatever the served default interval
        var response = await client.GenerateAsync(new { classId = 1, steps = 4, guidanceScale, cache, seed = 8, guidanceInterval = Array.Empty<double>() });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(passes, response.Header("X-Model-Passes"));
    }

    [Fact]
    public async Task ACachedSeedGivesTheSameBytesAloneAndInABatchOfRowsWithOtherCaches()
    {
        var client = await factory.ReadyClientAsync();
        var target = new { classId = 2, guidanceScale = 3.0, steps = 40, sampler = "ddim", seed = 1234, cache = "teacache:0.1" };
        var alone = await client.GenerateAsync(target);
        var aloneBytes = await alone.Content.ReadAsByteArrayAsync();

        var others = new object[]
        {
            new { classId = 0, guidanceScale = 1.0, steps = 40, sampler = "ddim", seed = 1, cache = "fora:3" },
            new { classId = 3, guidanceScale = 6.5, steps = 40, sampler = "ddim", seed = 99, cache = "off" },
            new { classId = 2, guidanceScale = 3.0, steps = 40, sampler = "ddim", seed = 1234, cache = "taylor:2" },
        };
        var all = await factory.Probe.GenerateTogetherAsync(client, others.Prepend(target)); // the four start together

        Assert.All(all, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal("4", all[0].Header("X-Batch-Size"));
        Assert.Equal(alone.Header("X-Model-Passes"), all[0].Header("X-Model-Passes"));
        Assert.NotEqual("80/80", alone.Header("X-Model-Passes")); // the threshold lets this request skip passes
        Assert.Equal(aloneBytes, await all[0].Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.DpmSolverPP2M)]
    public async Task CachedRequestsJoiningARunningBatchGiveTheSameImagesAsAlone(SamplerKind sampler)
    {
        using var factory = new ApiFactory().With("Engine:Batching", "continuous");
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        var first = Cached(new GenerationRequest(0, 4.0, 60, sampler, 1), "teacache:0.1");
        var joiner = Cached(new GenerationRequest(2, 2.5, 60, sampler, 99), "fora:3");
        var unguided = Cached(new GenerationRequest(3, 1.0, 60, sampler, 7), "taylor:2");
        var twentyStepsIn = factory.Probe.GateAt(first.Seed, step: 20);

        var running = engine.GenerateAsync(first, null, CancellationToken.None);
        await twentyStepsIn.Reached;
        var joining = new[] { joiner, unguided }.Select(r => engine.GenerateAsync(r, null, CancellationToken.None)).ToArray();
        twentyStepsIn.Release();
        var joined = await Task.WhenAll(joining);
        var firstShared = await running;

        Assert.Equal(3, joined[0].BatchSize);
        Assert.True(firstShared.Passes.Cached > 0, "the threshold should let the first request skip passes");
        foreach (var (request, shared) in new[] { (first, firstShared), (joiner, joined[0]), (unguided, joined[1]) })
        {
            var alone = await engine.GenerateAsync(request, null, CancellationToken.None);
            Assert.Equal(1, alone.BatchSize);
            Assert.Equal(alone.Passes, shared.Passes);
            Assert.Equal(alone.Image.Pixels, shared.Image.Pixels);
        }
    }

    [Fact]
    public async Task WholeAndContinuousBatchingGiveTheSameCachedImages()
    {
        var requests = new[]
        {
            Cached(new GenerationRequest(0, 4.0, 9, SamplerKind.Ddpm, 3), "fora:2"),
            Cached(new GenerationRequest(3, 1.0, 9, SamplerKind.Ddpm, 4), "teacache:0.1"),
            Cached(new GenerationRequest(1, 2.0, 9, SamplerKind.Ddpm, 5), "off"),
            Cached(new GenerationRequest(1, 2.0, 7, SamplerKind.DpmSolverPP2M, 5), "taylor:3"),
        };
        using var whole = new ApiFactory().With("Engine:Batching", "whole");
        using var continuous = new ApiFactory().With("Engine:Batching", "continuous");
        await Task.WhenAll(whole.ReadyClientAsync(), continuous.ReadyClientAsync());

        var a = await Task.WhenAll(requests.Select(r => whole.Engine.GenerateAsync(r, null, CancellationToken.None)));
        var b = await Task.WhenAll(requests.Select(r => continuous.Engine.GenerateAsync(r, null, CancellationToken.None)));

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(a[i].Passes, b[i].Passes);
            Assert.Equal(a[i].Image.Pixels, b[i].Image.Pixels);
        }
    }

    [Fact]
    public async Task StepCachedImagesHaveImageCacheEntriesOfTheirOwn()
    {
        using var cached = new ApiFactory().With("Cache:Enabled", "true");
        var client = await cached.ReadyClientAsync();
        var plain = new { classId = 1, steps = 4, seed = 21 };
        var reused = new { classId = 1, steps = 4, seed = 21, cache = "fora:2" };

        Assert.Equal("miss", (await client.GenerateAsync(plain)).Header("X-Cache"));
        Assert.Equal("miss", (await client.GenerateAsync(reused)).Header("X-Cache"));
        Assert.Equal("hit", (await client.GenerateAsync(reused)).Header("X-Cache"));
        Assert.Equal("hit", (await client.GenerateAsync(plain)).Header("X-Cache"));
    }

    [Fact]
    public async Task EngineDefaultCacheAppliesWhenTheRequestNamesNone()
    {
        using var own = new ApiFactory().With("Engine:DefaultCache", "fora:4");
        var client = await own.ReadyClientAsync();

        var response = await client.GenerateAsync(new { classId = 1, steps = 4, guidanceScale = 1.0, seed = 3 });

        Assert.Equal("1/4", response.Header("X-Model-Passes"));
        Assert.Equal("fora:4", (await client.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/generate/limits"))!["defaultCache"]!.GetValue<string>());
    }

    [Fact]
    public void AnUnknownDefaultCacheStopsStartUp()
    {
        using var own = new ApiFactory().With("Engine:DefaultCache", "fora:0");
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => own.CreateClient());
        Assert.Contains("Engine:DefaultCache must be one of: off, fora:N", error.Message);
    }
}
