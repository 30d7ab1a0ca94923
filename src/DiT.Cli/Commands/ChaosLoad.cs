using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit load --chaos`: starts --replicas copies of the service (--service path/to/DiT.Api.dll) as child processes on
/// loopback ports, sharing generation jobs on --redis under a fresh key prefix; clients submit jobs (n 1-3, seeded, each
/// with its own Idempotency-Key, retried on another replica when one is down) for --duration seconds while one replica
/// is killed (SIGKILL, no draining) and started again every --kill-every seconds. Then it waits for every job to end and
/// prints submitted, completed, failed, duplicated (one key that made two jobs), lost (never ended: must be 0) and
/// p50/p99 time to completion (the job's own createdAt -> finishedAt).
/// </summary>
static class ChaosLoad
{
    sealed record Submitted(string Key, string Id);

    public static async Task<int> RunAsync(CommandLine options)
    {
        var service = options.String("service") ?? throw new ArgumentException("--service path/to/DiT.Api.dll is required with --chaos.");
        var redis = options.String("redis") ?? "127.0.0.1:6379";
        int replicas = Math.Max(2, options.Int("replicas", 3)), clients = Math.Max(1, options.Int("concurrency", 4));
        var duration = TimeSpan.FromSeconds(options.Int("duration", 60));
        var killEvery = TimeSpan.FromSeconds(options.Int("kill-every", 5));
        int steps = options.Int("steps", 4);
        var prefix = "dit:chaos:" + Guid.NewGuid().ToString("N")[..8];
        var ports = Enumerable.Range(0, replicas).Select(_ => FreePort()).ToArray();
        var processes = new Process?[replicas];
        var errors = Enumerable.Range(0, replicas).Select(_ => new ConcurrentQueue<string>()).ToArray(); // each replica's last stderr lines
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        // The full path: the replica runs in the folder of its dll (for its appsettings.json), where a relative path fails.
        Process Start(int r) => Process.Start(new ProcessStartInfo("dotnet", [Path.GetFullPath(service)])
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(service)), // its appsettings.json
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{ports[r]}", ["Generations__RedisConnectionString"] = redis,
                ["Generations__RedisKeyPrefix"] = prefix, ["Generations__ClaimTimeout"] = options.String("claim-timeout") ?? "00:00:03",
                ["RateLimits__Enabled"] = "false", ["Cache__Enabled"] = "false", ["Engine__TorchThreads"] = "1",
                ["Logging__LogLevel__Default"] = "Warning", ["Admin__ApiKey"] = "",
            },
        })!.Also(p =>
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, line) =>
            {
                if (line.Data is null) return;
                errors[r].Enqueue(line.Data);
                while (errors[r].Count > 20 && errors[r].TryDequeue(out var _)) { }
            };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
        });

        try
        {
            for (int r = 0; r < replicas; r++) processes[r] = Start(r);
            for (int r = 0; r < replicas; r++) await ReadyAsync(http, ports[r], processes[r]!, errors[r]);
            Console.WriteLine($"{replicas} replicas on ports {string.Join(", ", ports)}, Redis {redis}, prefix {prefix}; " +
                $"{clients} clients for {duration.TotalSeconds:F0} s, one replica killed every {killEvery.TotalSeconds:F0} s");

            var submitted = new ConcurrentBag<Submitted>();
            int next = -1, kills = 0;
            using var stop = new CancellationTokenSource(duration);
            async Task Client()
            {
                while (!stop.IsCancellationRequested)
                {
                    int i = Interlocked.Increment(ref next);
                    var key = $"{prefix}-{i}";
                    var body = new { classId = i % 4, n = 1 + i % 3, seed = 1000 + 10 * i, steps };
                    for (int attempt = 0; ; attempt++) // the same key on every retry: a retried submit never makes a second job
                    {
                        var port = ports[(i + attempt) % replicas];
                        try
                        {
                            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/generations") { Content = JsonContent.Create(body) };
                            request.Headers.Add("Idempotency-Key", key);
                            using var response = await http.SendAsync(request);
                            if (response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK)
                            {
                                submitted.Add(new Submitted(key, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!));
                                break;
                            }
                        }
                        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { } // that replica is down: another
                        await Task.Delay(200);
                    }
                }
            }
            async Task Chaos()
            {
                var random = new Random(19);
                while (!stop.IsCancellationRequested)
                {
                    try { await Task.Delay(killEvery, stop.Token); } catch (OperationCanceledException) { break; }
                    int r = random.Next(replicas);
                    processes[r]!.Kill(entireProcessTree: true);
                    await processes[r]!.WaitForExitAsync();
                    processes[r]!.Dispose();
                    processes[r] = Start(r);
                    kills++;
                }
            }
            await Task.WhenAll([.. Enumerable.Range(0, clients).Select(_ => Client()), Chaos()]);
            for (int r = 0; r < replicas; r++) await ReadyAsync(http, ports[r], processes[r]!, errors[r]);

            // Every job to its end, read through any replica (no more kills now).
            var ended = new Dictionary<string, JsonElement>();
            var drainBy = Stopwatch.StartNew();
            var ids = submitted.Select(s => s.Id).Distinct().ToList();
            while (ended.Count < ids.Count && drainBy.Elapsed < TimeSpan.FromMinutes(5))
            {
                foreach (var id in ids.Where(id => !ended.ContainsKey(id)))
                {
                    var job = await http.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{ports[0]}/generations/{id}");
                    if (job.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled") ended[id] = job;
                }
                if (ended.Count < ids.Count) await Task.Delay(500);
            }
            var times = ended.Values.Where(j => j.GetProperty("status").GetString() == "succeeded")
                .Select(j => (j.GetProperty("finishedAt").GetDateTimeOffset() - j.GetProperty("createdAt").GetDateTimeOffset()).TotalMilliseconds)
                .Order().ToArray();
            int duplicated = submitted.GroupBy(s => s.Key).Count(g => g.Select(s => s.Id).Distinct().Count() > 1);
            Console.WriteLine($"{"submitted",9} {"completed",9} {"failed",6} {"duplicated",10} {"lost",4} {"kills",5} {"p50 ms",7} {"p99 ms",7}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{ids.Count,9} {times.Length,9} {ended.Values.Count(j => j.GetProperty("status").GetString() == "failed"),6} {duplicated,10} {ids.Count - ended.Count,4} {kills,5} {Percentile(times, 0.50),7:F0} {Percentile(times, 0.99),7:F0}"));
            return ids.Count == ended.Count && duplicated == 0 ? 0 : 1;
        }
        finally
        {
            foreach (var p in processes.OfType<Process>())
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                p.Dispose();
            }
        }
    }

    /// <summary>Waits for the replica's /health/ready; fails at once, with its last error lines, when its process has ended.</summary>
    static async Task ReadyAsync(HttpClient http, int port, Process process, IEnumerable<string> errors)
    {
        for (var waited = Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromMinutes(5); await Task.Delay(250))
        {
            if (process.HasExited)
                throw new IOException($"The replica on port {port} exited with code {process.ExitCode} before it was ready: " +
                    string.Join(Environment.NewLine, errors));
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/health/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
        }
        throw new IOException($"The replica on port {port} did not become ready within 5 minutes.");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
