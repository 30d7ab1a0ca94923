using System.Diagnostics;
using System.Globalization;
using DiT.Diffusion;
using DiT.Serving.Engine;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit bench-serving`: the engine in-process, whole-batch vs continuous batching side by side (both engines loaded,
/// phases interleaved so background load hits both alike): closed loop with 1 and N clients, then Poisson arrivals at
/// fractions of the best closed-loop throughput. Prints images/s, p50/p99 latency, mean queue wait and batch size.
/// Each row pools --repeats 3 runs of --requests each, modes alternating run by run.
/// Options: --modes whole,continuous  --repeats 3  --clients 1,32  --requests 64  --loads 0.3,0.6,0.9 (x best throughput)
///          --rates R1,R2 (explicit arrivals/s instead of --loads)  --steps 20 (or a list: 10,50 cycles per request)
///          --sampler ddim  --guidance 4  --max-batch 8  --max-delay-ms 20 (whole batching's MaxBatchDelay)  --threads 1
///          --checkpoint PATH (default: the built-in model)
/// </summary>
public sealed class BenchServingCommand : ICommand
{
    public string Summary => "serving benchmark in-process: whole vs continuous batching, closed loop and Poisson arrivals";

    public int Run(CommandLine options) => Bench(options);

    sealed record Workload(int[] Steps, SamplerKind Sampler, double Guidance, int Classes)
    {
        public GenerationRequest Request(int i) =>
            new(i % Classes, Guidance, Steps[i % Steps.Length], Sampler, Seed: 1_000_003L * i + 17);
    }

    sealed record Outcome(double LatencyMs, double QueueMs, int BatchSize);

    static int Bench(CommandLine options)
    {
        var modes = List(options.String("modes") ?? "whole,continuous", s => s.ToLowerInvariant() is "whole" or "continuous" ? s.ToLowerInvariant() : throw new ArgumentException($"--modes: '{s}' is not whole or continuous."));
        var clients = List(options.String("clients") ?? "1,32", PositiveInt("clients"));
        int requests = Math.Max(1, options.Int("requests", 64));
        var workload = new Workload(List(options.String("steps") ?? "20", PositiveInt("steps")), ParseSampler(options.String("sampler") ?? "ddim"),
            options.Double("guidance", 4), Math.Max(1, options.Int("classes", 10)));
        var settings = new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = options.String("checkpoint") ?? "",
            ["Model:Device"] = options.String("device") ?? "auto",
            ["Engine:MaxBatchSize"] = options.Int("max-batch", 8).ToString(CultureInfo.InvariantCulture),
            ["Engine:MaxBatchDelay"] = TimeSpan.FromMilliseconds(options.Double("max-delay-ms", 20)).ToString("c", CultureInfo.InvariantCulture),
            ["Engine:TorchThreads"] = options.Int("threads", 1).ToString(CultureInfo.InvariantCulture),
            ["Engine:QueueCapacity"] = "100000",
            ["Engine:RequestTimeout"] = "01:00:00",
        };

        var engines = modes.ToDictionary(m => m, m => InProcessEngine.Start(new Dictionary<string, string?>(settings) { ["Engine:Batching"] = m }));
        try
        {
            var model = engines.Values.First().Engine.Model!;
            workload = workload with
            {
                Classes = Math.Min(workload.Classes, model.Classes.Count),
                Guidance = model.SupportsGuidance ? workload.Guidance : 1,
            };
            Console.WriteLine($"Serving benchmark (in-process engine): {model.Name}, {model.Gflops:F4} GMACs per forward, {model.Device}, " +
                $"{settings["Engine:TorchThreads"]} torch thread(s), MaxBatchSize {settings["Engine:MaxBatchSize"]}, MaxBatchDelay (whole) {settings["Engine:MaxBatchDelay"]}, {SamplerNames.NameOf(workload.Sampler)} " +
                $"{string.Join("/", workload.Steps)} steps, guidance {workload.Guidance}, {requests} requests per row; {Environment.ProcessorCount} logical CPUs");
            foreach (var engine in engines.Values) Closed(engine.Engine, workload, 1, 4); // warm-up

            Console.WriteLine();
            Console.WriteLine("| arrivals | batching | images/s | p50 ms | p99 ms | mean queue ms | mean batch |");
            Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
            // Each row pools --repeats runs, alternating the modes run by run, so bursts of background load hit both alike.
            int repeats = Math.Max(1, options.Int("repeats", 3));
            double best = 0;
            foreach (var c in clients)
                foreach (var (mode, phase) in Alternate(engines, repeats, engine => Closed(engine, workload, c, requests)))
                {
                    best = Math.Max(best, phase.Outcomes.Count / phase.Wall.TotalSeconds);
                    Print($"{c} client{(c == 1 ? "" : "s")}", mode, phase);
                }

            var rates = options.Has("rates")
                ? List(options.String("rates")!, s => double.Parse(s, CultureInfo.InvariantCulture))
                : List(options.String("loads") ?? "0.3,0.6,0.9", s => double.Parse(s, CultureInfo.InvariantCulture) * best);
            foreach (var rate in rates)
                foreach (var (mode, phase) in Alternate(engines, repeats, engine => Poisson(engine, workload, rate, requests, seed: 7)))
                    Print($"Poisson {rate:F1}/s", mode, phase);
        }
        finally
        {
            foreach (var engine in engines.Values) engine.Dispose();
        }
        return 0;
    }

    sealed record Phase(List<Outcome> Outcomes, TimeSpan Wall);

    /// <summary>Runs <paramref name="run"/> <paramref name="repeats"/> times per mode, modes alternating, and pools each mode's runs.</summary>
    static IEnumerable<(string Mode, Phase Phase)> Alternate(Dictionary<string, InProcessEngine> engines, int repeats, Func<IImageGenerator, Phase> run)
    {
        var pooled = engines.Keys.ToDictionary(m => m, _ => new Phase([], TimeSpan.Zero));
        for (int r = 0; r < repeats; r++)
            foreach (var (mode, engine) in engines)
            {
                var phase = run(engine.Engine);
                pooled[mode] = new Phase([.. pooled[mode].Outcomes, .. phase.Outcomes], pooled[mode].Wall + phase.Wall);
            }
        return pooled.Select(kv => (kv.Key, kv.Value));
    }

    /// <summary><paramref name="clients"/> callers, each sending its next request when its last one is answered.</summary>
    static Phase Closed(IImageGenerator engine, Workload workload, int clients, int requests)
    {
        var outcomes = new List<Outcome>();
        int next = -1;
        var wall = Stopwatch.StartNew();
        Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
                await Send(engine, workload.Request(i), outcomes);
        }))).GetAwaiter().GetResult();
        return new Phase(outcomes, wall.Elapsed);
    }

    /// <summary>Open loop: requests arrive as a Poisson process of <paramref name="rate"/> per second, whatever the answers do.</summary>
    static Phase Poisson(IImageGenerator engine, Workload workload, double rate, int requests, int seed)
    {
        var random = new Random(seed);
        var outcomes = new List<Outcome>();
        var sends = new List<Task>(requests);
        var wall = Stopwatch.StartNew();
        double at = 0;
        for (int i = 0; i < requests; i++)
        {
            var wait = at - wall.Elapsed.TotalSeconds;
            if (wait > 0) Thread.Sleep(TimeSpan.FromSeconds(wait));
            var request = workload.Request(i);
            sends.Add(Task.Run(() => Send(engine, request, outcomes)));
            at += -Math.Log(1 - random.NextDouble()) / rate; // exponential gaps
        }
        Task.WhenAll(sends).GetAwaiter().GetResult();
        return new Phase(outcomes, wall.Elapsed);
    }

    static async Task Send(IImageGenerator engine, GenerationRequest request, List<Outcome> into)
    {
        var started = Stopwatch.StartNew();
        var image = await engine.GenerateAsync(request, null, CancellationToken.None);
        lock (into) into.Add(new Outcome(started.Elapsed.TotalMilliseconds, image.QueueTime.TotalMilliseconds, image.BatchSize));
    }

    static void Print(string arrivals, string mode, Phase phase)
    {
        var (outcomes, wall) = (phase.Outcomes, phase.Wall);
        var latencies = outcomes.Select(o => o.LatencyMs).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {arrivals} | {mode} | {outcomes.Count / wall.TotalSeconds:F2} | {Percentile(latencies, 0.5):F0} | {Percentile(latencies, 0.99):F0} | {outcomes.Average(o => o.QueueMs):F0} | {outcomes.Average(o => o.BatchSize):F2} |"));
    }

    static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    static T[] List<T>(string text, Func<string, T> parse) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(parse).ToArray() is { Length: > 0 } list
            ? list : throw new ArgumentException($"Expected a comma-separated list, got '{text}'.");

    static Func<string, int> PositiveInt(string option) => s =>
        int.TryParse(s, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"--{option} expects positive integers, got '{s}'.");

    internal static SamplerKind ParseSampler(string name) => SamplerNames.ByName.TryGetValue(name, out var sampler)
        ? sampler : throw new ArgumentException($"--sampler '{name}' is not one of {SamplerNames.Allowed}.");
}
