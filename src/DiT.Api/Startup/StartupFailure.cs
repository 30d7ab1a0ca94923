using DiT.Serving.Engine;
using DiT.Serving.Startup;

namespace DiT.Api.Startup;

/// <summary>
/// A service that cannot serve exits non-zero with one line on stderr naming the setting, the file and what is wrong
/// (no stack trace unless <see cref="DebugSwitch"/> is on): a setting that fails validation, a model that fails to load
/// on the engine thread, or anything else that stops start-up. Without this, validation failures crashed the process
/// (SIGABRT, 134) with the stack trace printed twice, and a failed model load stopped the host with exit code 0.
/// </summary>
public static class StartupFailure
{
    public const int ExitCode = 1;

    const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host", KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    /// <summary>Until the service has started, drops the host's and Kestrel's own error logs of a failed start (they
    /// carry the stack trace; <see cref="Report"/> prints the one line instead). Errors after start are logged as ever.</summary>
    public static WebApplicationBuilder AddStartupFailureReport(this WebApplicationBuilder builder)
    {
        var started = new StartedFlag();
        builder.Services.AddSingleton(started);
        if (!DebugSwitch.IsOn)
            builder.Logging.AddFilter((_, category, level) => started.IsSet || level < LogLevel.Error || category is not (HostCategory or KestrelCategory));
        return builder;
    }

    /// <summary>Runs the service until it stops and returns the process exit code: 0, or <see cref="ExitCode"/> (reported)
    /// when the model could not be loaded. A failure to start throws, for <see cref="Report"/>.</summary>
    public static async Task<int> RunServiceAsync(this WebApplication app)
    {
        var engine = app.Services.GetRequiredService<GenerationEngine>(); // now: RunAsync disposes the services
        var started = app.Services.GetRequiredService<StartedFlag>();
        app.Lifetime.ApplicationStarted.Register(() => started.IsSet = true);
        await app.RunAsync();
        return engine.LoadFailure is { } failure ? Report(failure) : 0;
    }

    /// <summary>True when this assembly is the process's entry point. Hosted by another (WebApplicationFactory's test
    /// process), a failed start must reach the host as an exception, not end the program with an exit code.</summary>
    public static bool IsOwnProcess => System.Reflection.Assembly.GetEntryAssembly() == typeof(StartupFailure).Assembly;

    /// <summary>Prints the failure (one line, or everything with DIT_DEBUG) and returns <see cref="ExitCode"/>.</summary>
    public static int Report(Exception e)
    {
        Console.Error.WriteLine(DebugSwitch.IsOn ? e.ToString() : $"DiT.Api cannot start: {ErrorText.Describe(e)}");
        return ExitCode;
    }

    sealed class StartedFlag
    {
        public volatile bool IsSet;
    }
}
