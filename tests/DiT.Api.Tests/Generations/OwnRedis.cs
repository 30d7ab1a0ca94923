using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DiT.Api.Tests.Generations;

/// <summary>
/// A redis-server of the test's own, on a free loopback port, for outages the shared test Redis must not have: it can be
/// shut down (saving its data, as a Redis with persistence would) and started again on the same port with that data.
/// </summary>
public sealed class OwnRedis : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("dit-redis-").FullName;
    Process? _server;

    public OwnRedis()
    {
        Port = FreePort();
        Start();
    }

    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>SHUTDOWN SAVE: the data goes to dump.rdb, every client is disconnected, the port is closed.</summary>
    public void StopSaving()
    {
        Run("redis-cli", $"-p {Port} shutdown save");
        if (!_server!.WaitForExit(Hang.Guard)) throw new TimeoutException("redis-server did not stop");
    }

    /// <summary>Starts the server again on the same port; it loads what <see cref="StopSaving"/> saved. Returns once the
    /// server says it accepts connections (its log goes to our stdout), so the first connection never races its start.</summary>
    public void Start()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server = Process.Start(new ProcessStartInfo("redis-server",
            $"--bind 127.0.0.1 --port {Port} --dir {_dir} --save \"\" --appendonly no --logfile \"\"")
        { UseShellExecute = false, RedirectStandardOutput = true }) ?? throw new InvalidOperationException("redis-server did not start");
        _server.OutputDataReceived += (_, line) =>
        {
            if (line.Data?.Contains("Ready to accept connections", StringComparison.Ordinal) == true) ready.TrySetResult();
        };
        _server.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server on port {Port} exited"));
        _server.EnableRaisingEvents = true;
        _server.BeginOutputReadLine();
        ready.Task.WaitAsync(Hang.Guard).GetAwaiter().GetResult();
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static string Run(string file, string args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args)
            { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return output;
    }

    public void Dispose()
    {
        try { if (_server is { HasExited: false }) _server.Kill(); }
        catch (InvalidOperationException) { }
        _server?.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
