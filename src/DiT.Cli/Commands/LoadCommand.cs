using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit load`: fires requests at a running service and prints throughput and latency.
/// --mode generate (default): POST /generate one at a time, then N concurrently: images/s, p50/p99 latency and the mean
///   batch size (X-Batch-Size) of each, so batching's gain is visible.
/// --mode jobs: POST /generations with n=1 and n=--images, the same number of images in flight as --concurrency
///   (N jobs of 1, or N/n jobs of n): images/s and p50/p99 time to the first image (submit -> first image downloaded)
///   and to the job's end. --mode all: both, /generate's row first (its first image is its only one).
/// Options: --url http://localhost:5000  --requests 32 (images per row)  --concurrency 8  --images 8  --steps 10
///          --sampler ddim  --guidance 4  --classes 10 (class ids cycle 0..classes-1)
/// --chaos: replicas started here, killed and restarted while clients submit jobs; see <see cref="ChaosLoad"/>.
/// Requests carry no seed, so the service's cache never answers them (every image is sampled). Start the service with
/// RateLimits__Enabled=false: a load test is many requests from one client.
/// </summary>
public sealed class LoadCommand : ICommand
{
    public string Summary => "load-test a running service: /generate at concurrency 1 vs N, and the job API (--mode jobs|all)";

    public int Run(CommandLine options) => RunAsync(options).GetAwaiter().GetResult();

    public sealed record Settings(int Requests, int Concurrency, int Steps, string Sampler, double Guidance, int Classes)
    {
        public object Body(int i) => new { classId = i % Classes, guidanceScale = Guidance, steps = Steps, sampler = Sampler };
    }

    /// <summary>One request or job: when its first image had arrived, when it was done, how many images, and its batch size (0: unknown).</summary>
    public sealed record Sample(double FirstImageMs, double DoneMs, int Images, int BatchSize);

    public sealed record Phase(List<Sample> Samples, TimeSpan Wall)
    {
        public double ImagesPerSecond => Samples.Sum(s => s.Images) / Wall.TotalSeconds;
    }

    static async Task<int> RunAsync(CommandLine options)
    {
        if (options.Has("chaos")) return await ChaosLoad.RunAsync(options);
        var url = new Uri(options.String("url") ?? "http://localhost:5000");
        var mode = options.String("mode") ?? "generate";
        if (mode is not ("generate" or "jobs" or "all")) throw new ArgumentException($"--mode must be generate, jobs or all (got '{mode}').");
        var settings = new Settings(
            Requests: Math.Max(1, options.Int("requests", 32)),
            Concurrency: Math.Max(1, options.Int("concurrency", 8)),
            Steps: options.Int("steps", 10),
            Sampler: options.String("sampler") ?? "ddim",
            Guidance: options.Double("guidance", 4),
            Classes: Math.Max(1, options.Int("classes", 10)));
        int images = Math.Max(1, options.Int("images", 8));
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };

        var model = await http.GetStringAsync("/model");
        Console.WriteLine($"service {url}: {model}");
        Console.WriteLine($"{settings.Requests} images per row, {settings.Steps} {settings.Sampler} steps, guidance {settings.Guidance}");
        await GeneratePhase(http, settings with { Requests = Math.Min(2, settings.Requests), Concurrency = 1 }); // warm-up, not reported

        if (mode == "generate")
        {
            Console.WriteLine($"{"concurrency",11} {"images/s",9} {"p50 ms",8} {"p99 ms",8} {"mean batch",10} {"wall s",7}");
            var one = ReportGenerate(1, await GeneratePhase(http, settings with { Concurrency = 1 }));
            var many = ReportGenerate(settings.Concurrency, await GeneratePhase(http, settings));
            Console.WriteLine($"batching speed-up at concurrency {settings.Concurrency}: {many / one:F2}x throughput");
            return 0;
        }

        Console.WriteLine($"{"row",-10} {"in flight",9} {"images/s",9} {"first p50",9} {"first p99",9} {"done p50",9} {"done p99",9} {"wall s",7}");
        if (mode == "all") Report("/generate", $"{settings.Concurrency} x 1", await GeneratePhase(http, settings));
        foreach (var n in new[] { 1, images }.Distinct())
        {
            int jobs = Math.Max(1, settings.Concurrency / n);
            Report($"jobs n={n}", $"{jobs} x {n}", await JobsLoad.RunAsync(http, settings, n, jobs));
        }
        return 0;
    }

    static async Task<Phase> GeneratePhase(HttpClient http, Settings s)
    {
        var samples = new List<Sample>();
        int next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, s.Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < s.Requests)
            {
                var started = Stopwatch.StartNew();
                using var response = await http.PostAsJsonAsync("/generate", s.Body(i));
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"/generate answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                int batch = response.Headers.TryGetValues("X-Batch-Size", out var v) ? int.Parse(v.First(), CultureInfo.InvariantCulture) : 1;
                var ms = started.Elapsed.TotalMilliseconds;
                lock (samples) samples.Add(new Sample(ms, ms, 1, batch));
            }
        }));
        return new Phase(samples, wall.Elapsed);
    }

    /// <summary>Prints one /generate row (the original table) and returns its throughput (images/s).</summary>
    static double ReportGenerate(int concurrency, Phase phase)
    {
        var latencies = phase.Samples.Select(x => x.DoneMs).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{concurrency,11} {phase.ImagesPerSecond,9:F2} {Percentile(latencies, 0.50),8:F0} {Percentile(latencies, 0.99),8:F0} {phase.Samples.Average(x => x.BatchSize),10:F2} {phase.Wall.TotalSeconds,7:F1}"));
        return phase.ImagesPerSecond;
    }

    static void Report(string row, string inFlight, Phase phase)
    {
        var first = phase.Samples.Select(x => x.FirstImageMs).Order().ToArray();
        var done = phase.Samples.Select(x => x.DoneMs).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{row,-10} {inFlight,9} {phase.ImagesPerSecond,9:F2} {Percentile(first, 0.50),9:F0} {Percentile(first, 0.99),9:F0} {Percentile(done, 0.50),9:F0} {Percentile(done, 0.99),9:F0} {phase.Wall.TotalSeconds,7:F1}"));
    }

    static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
