using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit load`: fires requests at a running service, first one at a time, then N concurrently, and prints
/// throughput, p50/p99 latency and the mean batch size (X-Batch-Size) of each, so batching's gain is visible.
/// Options: --url http://localhost:5000  --requests 32  --concurrency 8  --steps 10  --sampler ddim
///          --guidance 4  --classes 10 (class ids cycle 0..classes-1)
/// Requests carry no seed, so the service's cache never answers them (every image is sampled).
/// </summary>
public sealed class LoadCommand : ICommand
{
    public string Summary => "load-test a running service: throughput and latency at concurrency 1 vs N";

    public int Run(CommandLine options) => RunAsync(options).GetAwaiter().GetResult();

    sealed record Settings(int Requests, int Concurrency, int Steps, string Sampler, double Guidance, int Classes);

    sealed record Sample(double LatencyMs, int BatchSize);

    static async Task<int> RunAsync(CommandLine options)
    {
        var url = new Uri(options.String("url") ?? "http://localhost:5000");
        var settings = new Settings(
            Requests: Math.Max(1, options.Int("requests", 32)),
            Concurrency: Math.Max(1, options.Int("concurrency", 8)),
            Steps: options.Int("steps", 10),
            Sampler: options.String("sampler") ?? "ddim",
            Guidance: options.Double("guidance", 4),
            Classes: Math.Max(1, options.Int("classes", 10)));
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };

        var model = await http.GetStringAsync("/model");
        Console.WriteLine($"service {url}: {model}");
        Console.WriteLine($"{settings.Requests} requests, {settings.Steps} {settings.Sampler} steps, guidance {settings.Guidance}");
        await Phase(http, settings with { Requests = Math.Min(2, settings.Requests), Concurrency = 1 }); // warm-up, not reported

        Console.WriteLine($"{"concurrency",11} {"images/s",9} {"p50 ms",8} {"p99 ms",8} {"mean batch",10} {"wall s",7}");
        var one = Report(1, await Phase(http, settings with { Concurrency = 1 }));
        var many = Report(settings.Concurrency, await Phase(http, settings));
        Console.WriteLine($"batching speed-up at concurrency {settings.Concurrency}: {many / one:F2}x throughput");
        return 0;
    }

    static async Task<(List<Sample> Samples, TimeSpan Wall)> Phase(HttpClient http, Settings s)
    {
        var samples = new List<Sample>();
        int next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, s.Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < s.Requests)
            {
                var body = new { classId = i % s.Classes, guidanceScale = s.Guidance, steps = s.Steps, sampler = s.Sampler };
                var started = Stopwatch.StartNew();
                using var response = await http.PostAsJsonAsync("/generate", body);
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"/generate answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                int batch = response.Headers.TryGetValues("X-Batch-Size", out var v) ? int.Parse(v.First(), CultureInfo.InvariantCulture) : 1;
                lock (samples) samples.Add(new Sample(started.Elapsed.TotalMilliseconds, batch));
            }
        }));
        return (samples, wall.Elapsed);
    }

    /// <summary>Prints one row and returns its throughput (images/s).</summary>
    static double Report(int concurrency, (List<Sample> Samples, TimeSpan Wall) phase)
    {
        var latencies = phase.Samples.Select(x => x.LatencyMs).Order().ToArray();
        double throughput = latencies.Length / phase.Wall.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{concurrency,11} {throughput,9:F2} {Percentile(latencies, 0.50),8:F0} {Percentile(latencies, 0.99),8:F0} {phase.Samples.Average(x => x.BatchSize),10:F2} {phase.Wall.TotalSeconds,7:F1}"));
        return throughput;
    }

    static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
