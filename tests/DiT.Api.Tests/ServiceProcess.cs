using System.Diagnostics;

namespace DiT.Api.Tests;

/// <summary>The service as operators run it: its own process (DiT.Api.dll beside the tests), settings from the
/// environment, on a free loopback port. For what only a process shows: exit codes and what reaches stdout/stderr.</summary>
public static class ServiceProcess
{
    public sealed record Exit(int Code, string Stdout, string Stderr);

    /// <summary>Starts the service with <paramref name="settings"/> (environment variables, e.g. Model__CheckpointPath)
    /// and waits for it to exit by itself; a service that starts serving instead fails the test.</summary>
    public static async Task<Exit> RunUntilExitAsync(IReadOnlyDictionary<string, string> settings)
    {
        var host = Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        var start = new ProcessStartInfo(host, [Path.Combine(AppContext.BaseDirectory, "DiT.Api.dll")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Directory.CreateTempSubdirectory("dit-process-").FullName,
        };
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Training__JobsFolder"] = Path.Combine(start.WorkingDirectory, "jobs");
        start.Environment["Engine__TorchThreads"] = "1";
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment.Remove("DIT_DEBUG");
        foreach (var (key, value) in settings) start.Environment[key] = value;

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try { await process.WaitForExitAsync().WaitAsync(Hang.Guard); } // a service that serves or hangs fails the test
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"The service did not exit by itself. stdout: {await stdout}");
        }
        return new Exit(process.ExitCode, await stdout, await stderr);
    }
}
