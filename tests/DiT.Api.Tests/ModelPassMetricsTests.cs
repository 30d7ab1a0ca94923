using System.Net;

namespace DiT.Api.Tests;

/// <summary>dit.model.passes as Prometheus scrapes it: full and cached passes of the generated images.</summary>
[Collection(nameof(ProcessWideMeters))]
public sealed class ModelPassMetricsTests
{
    [Fact]
    public async Task MetricsCountFullAndCachedPasses()
    {
        using var own = new ApiFactory();
        var client = await own.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GenerateAsync(new { classId = 1, steps = 4, guidanceScale = 1.0, cache = "fora:2", seed = 3 })).StatusCode);

        var metrics = await client.GetStringAsync("/metrics");

        Assert.Matches("dit_model_passes_total\\{[^}]*kind=\"full\"[^}]*\\} 2\\b", metrics);
        Assert.Matches("dit_model_passes_total\\{[^}]*kind=\"cached\"[^}]*\\} 2\\b", metrics);
    }
}
