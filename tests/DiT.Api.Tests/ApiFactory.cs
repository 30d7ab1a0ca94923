using System.Net;
using DiT.Api.Promotions;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Serving.Engine;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DiT.Api.Tests;

/// <summary>
/// The service with a tiny real model on CPU (8x8 RGB, 4 named classes, random weights saved with DiTCheckpoint.Save)
/// and the in-memory cache switched off (so equal bytes come from the model, not the cache). Endpoints reach the engine
/// through an <see cref="EngineProbe"/>, so tests can line requests up (<see cref="GenerationEngine.HoldAdmissions"/>)
/// and stop the engine at a step. Subclasses and <see cref="With"/> change settings.
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
        ["Cache:Enabled"] = "false",
        ["Engine:TorchThreads"] = "1", // tiny models on a shared CPU: threads only wait for each other
        ["Admin:ApiKey"] = "",
        ["RateLimits:Enabled"] = "false", // tests send bursts from one address; RateLimitTests switches it on
    };

    readonly List<Action<IServiceCollection>> _services = [];

    public ApiFactory With(string key, string? value)
    {
        _settings[key] = value;
        return this;
    }

    /// <summary>Changes the service's registrations after its own (to replace a service, or add a startup filter).</summary>
    public ApiFactory WithServices(Action<IServiceCollection> configure)
    {
        _services.Add(configure);
        return this;
    }

    public IImageGenerator Engine => Services.GetRequiredService<IImageGenerator>();

    public EngineProbe Probe => Services.GetRequiredService<EngineProbe>();

    /// <summary>Every log entry of this service.</summary>
    public CapturedLogs Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings) builder.UseSetting(key, value);
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<EngineProbe>();
            services.AddSingleton<IImageGenerator>(sp => sp.GetRequiredService<EngineProbe>());
            _services.ForEach(configure => configure(services));
        });
    }

    /// <summary>A client for a service whose model is loaded (the engine loads it on its own thread at start).</summary>
    public async Task<HttpClient> ReadyClientAsync()
    {
        var client = CreateClient();
        await WhenServingAsync(fingerprint: null);
        await Services.GetRequiredService<PromotionFanOut>().WhenCaughtUp.WaitAsync(Hang.Guard);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        return client;
    }

    /// <summary>Completes once the engine serves a model (with <paramref name="fingerprint"/>, when one is given).</summary>
    public Task WhenServingAsync(string? fingerprint)
    {
        var engine = Services.GetRequiredService<GenerationEngine>(); // starts the host
        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(ServedModel? model)
        {
            if (model is not null && (fingerprint is null || model.Fingerprint == fingerprint)) serving.TrySetResult();
        }
        engine.ModelChanged += Check;
        Check(engine.Model);
        return serving.Task.WaitAsync(Hang.Guard).ContinueWith(t => { engine.ModelChanged -= Check; return t; }).Unwrap();
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
