using System.Diagnostics;
using DiT.Cli.Fuzz;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit fuzz`: attacks a running service on this machine with malformed requests (see <see cref="FuzzRequests"/>) and
/// prints how many answers had each status; exits 1 if any was a 5xx or quoted an exception. Only loopback targets.
/// Options: --base http://127.0.0.1:5077 (required)  --requests 1000  --seed 1  --concurrency 8  --wait-ms 10000
///          --api-key KEY (sent with every request, so the /admin routes are reached)
/// </summary>
public sealed class FuzzCommand : ICommand
{
    public string Summary => "send malformed requests to a local service: counts per status, exit 1 on any 5xx";

    public int Run(CommandLine options) => RunAsync(options).GetAwaiter().GetResult();

    static async Task<int> RunAsync(CommandLine options)
    {
        var server = LoopbackOnly.Parse(options.String("base") ?? throw new ArgumentException("--base is required, e.g. --base http://127.0.0.1:5077."));
        int total = Math.Max(1, options.Int("requests", 1000)), concurrency = Math.Clamp(options.Int("concurrency", 8), 1, 256);
        int seed = options.Int("seed", 1);
        await WaitUntilReadyAsync(server);

        var report = await Fuzzer.RunAsync(server, total, seed, concurrency, options.String("api-key"),
            TimeSpan.FromMilliseconds(Math.Max(100, options.Int("wait-ms", 10_000))));

        Console.WriteLine($"dit fuzz: {total} requests to {server} (seed {seed}, concurrency {concurrency}) in {report.Took.TotalSeconds:F1} s");
        Console.WriteLine("| status | answers |");
        Console.WriteLine("| --- | --- |");
        foreach (var (status, count) in report.ByStatus.OrderBy(kv => kv.Key, StringComparer.Ordinal)) Console.WriteLine($"| {status} | {count} |");
        Console.WriteLine();
        Console.WriteLine("| kind | answers by status |");
        Console.WriteLine("| --- | --- |");
        foreach (var kind in report.ByKind.Keys.Select(k => k.Kind).Distinct().Order(StringComparer.Ordinal))
            Console.WriteLine($"| {kind} | {string.Join(", ", report.ByKind.Where(kv => kv.Key.Kind == kind).OrderBy(kv => kv.Key.Status, StringComparer.Ordinal).Select(kv => $"{kv.Key.Status}: {kv.Value}"))} |");
        Console.WriteLine();
        Console.WriteLine($"({FuzzReport.NoAnswer}: no answer to read: the client hung up mid-body on purpose, or the server closed without one)");
        foreach (var request in report.Unanswered.Take(20)) Console.WriteLine($"no answer within the wait: {request}");
        foreach (var failure in report.Failures.Take(20)) Console.WriteLine($"FAIL {failure}");
        Console.WriteLine(report.Failures.Count == 0 ? "no 5xx, no exception text in any answer" : $"{report.Failures.Count} answers were 5xx or quoted an exception");
        return report.Failures.Count == 0 ? 0 : 1;
    }

    /// <summary>A fuzzed service that was not ready would answer 503 for the model, which is not what is being tested.</summary>
    static async Task WaitUntilReadyAsync(Uri server)
    {
        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(10) };
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromMinutes(2); await Task.Delay(500))
        {
            try { if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode) return; }
            catch (HttpRequestException) { }
        }
        throw new InvalidOperationException($"{server} did not become ready (GET /health/ready) within 2 minutes.");
    }
}
