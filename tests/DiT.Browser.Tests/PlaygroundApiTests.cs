using System.Net;
using System.Net.Http.Json;
using DiT.Api.Generate;
using DiT.Api.Tests;

namespace DiT.Browser.Tests;

/// <summary>What the playground page is built from, over HTTP: the static page and GET /generate/limits.</summary>
public sealed class PlaygroundApiTests(ApiFactory app) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task RootServesThePlaygroundPage()
    {
        var client = await app.ReadyClientAsync();
        using var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<title>DiT playground</title>", await page.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/playground.js")).StatusCode);
    }

    [Fact]
    public async Task LimitsComeFromTheEngineSettings()
    {
        var client = await app.ReadyClientAsync();
        var limits = await client.GetFromJsonAsync<GenerateApi.GenerateLimits>("/generate/limits");

        string[] noSamplers = [];
        Assert.Equal(new GenerateApi.GenerateLimits(DefaultSteps: 3, MaxSteps: 1000, DefaultGuidanceScale: 2.0, MaxGuidanceScale: 20.0,
            SupportsGuidance: true, DefaultSampler: "ddim", noSamplers, MaxSeed: (1L << 53) - 1, MinNoiseLevel: limits!.MinNoiseLevel,
            MaxNoiseLevel: limits.MaxNoiseLevel, DefaultGuidanceInterval: limits.DefaultGuidanceInterval), limits with { Samplers = noSamplers });
        Assert.Equal([0.3, 5], limits.DefaultGuidanceInterval!);        // appsettings.json's default interval
        Assert.Equal(0.01, limits.MinNoiseLevel, 4);                  // the linear schedule's sigma at t = 0 and t = 999
        Assert.InRange(limits.MaxNoiseLevel, 150, 160);
        Assert.Equal(["ddpm", "ddim", "dpmpp-2m"], limits.Samplers);
    }
}
