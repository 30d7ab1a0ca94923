using DiT.Serving.Engine;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DiT.Cli;

/// <summary>
/// The service's inference engine hosted in this process (no HTTP), configured like the service: its appsettings.json
/// (copied beside the tool), then the command's Engine:* and Model:* settings. The benchmarks measure the engine, not
/// Kestrel and the network.
/// </summary>
public sealed class InProcessEngine : IDisposable
{
    readonly IHost _host;

    /// <summary>The service's settings file, linked into the tool's output by DiT.Cli.csproj.</summary>
    const string SettingsFile = "appsettings.json";

    InProcessEngine(IHost host) => _host = host;

    public IImageGenerator Engine => _host.Services.GetRequiredService<IImageGenerator>();

    /// <summary>Starts the engine with the given settings over the service's defaults and waits until its model is loaded.</summary>
    public static InProcessEngine Start(IReadOnlyDictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, SettingsFile), optional: false)
            .AddInMemoryCollection(settings);
        builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<DiTTelemetry>();
        builder.Services.AddInferenceEngine();
        var host = builder.Build();
        host.Start();
        var engine = new InProcessEngine(host);
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (!engine.Engine.IsReady)
        {
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException("The engine did not load its model within 5 minutes.");
            Thread.Sleep(20);
        }
        return engine;
    }

    public void Dispose()
    {
        _host.StopAsync().GetAwaiter().GetResult();
        _host.Dispose();
    }
}
