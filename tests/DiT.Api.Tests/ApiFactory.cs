using System.Net;
using DiT.Api.Engine;
using DiT.Model;
using DiT.Model.Checkpoints;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests;

/// <summary>
/// The service with a tiny real model on CPU (8x8 RGB, 4 named classes, random weights saved with DiTCheckpoint.Save),
/// the in-memory cache switched off (so equal bytes come from the model, not the cache) and batching that waits
/// long enough for concurrent test requests to share a batch. Subclasses and <see cref="With"/> change settings.
/// </summary>
public class ApiFactory : WebApplicationFactory<Program>
{
    public static readonly DiTConfig TinyConfig =
        new(InputSize: 8, PatchSize: 2, InChannels: 3, HiddenSize: 32, Depth: 2, NumHeads: 2, NumClasses: 4);

    public static readonly string[] TinyClasses = ["cat, kitty", "dog, puppy, golden retriever", "bird", "fish"];

    static readonly Lazy<string> TinyCheckpoint = new(WriteTinyCheckpoint);

    /// <summary>The tiny checkpoint the factory serves (written once per test run), for tests that build a pipeline directly.</summary>
    public static string TinyCheckpointPath => TinyCheckpoint.Value;

    readonly Dictionary<string, string?> _settings = new()
    {
        ["Model:CheckpointPath"] = TinyCheckpoint.Value,
        ["Engine:DefaultSteps"] = "3",
        ["Engine:DefaultSampler"] = "ddim",
        ["Engine:MaxBatchSize"] = "8",
        ["Engine:MaxBatchDelay"] = "00:00:00.300",
        ["Cache:Enabled"] = "false",
        ["Engine:TorchThreads"] = "1", // tiny models on a shared CPU: threads only wait for each other
        ["Admin:ApiKey"] = "",
    };

    public ApiFactory With(string key, string? value)
    {
        _settings[key] = value;
        return this;
    }

    public IImageGenerator Engine => Services.GetRequiredService<IImageGenerator>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings) builder.UseSetting(key, value);
    }

    /// <summary>A client for a service whose model is loaded (the engine loads it on its own thread at start).</summary>
    public async Task<HttpClient> ReadyClientAsync()
    {
        var client = CreateClient();
        for (int i = 0; i < 300; i++)
        {
            if ((await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK) return client;
            await Task.Delay(50);
        }
        throw new TimeoutException("The service did not become ready in 15 s.");
    }

    static string WriteTinyCheckpoint()
    {
        var folder = Directory.CreateTempSubdirectory("dit-api-tests-").FullName;
        var path = Path.Combine(folder, "tiny.safetensors");
        using (var model = DefaultModel.RandomWeights(TinyConfig, seed: 7))
            DiTCheckpoint.Save(model, path);
        File.WriteAllLines(Path.Combine(folder, "classes.txt"), TinyClasses);
        return path;
    }
}
