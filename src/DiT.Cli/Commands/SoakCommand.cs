using System.Diagnostics;
using System.Globalization;
using DiT.Diffusion;
using DiT.Model.StepCaching;
using DiT.Serving.Engine;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit soak`: many generations through the in-process engine (the built-in tiny model by default), printing the
/// process RSS, the managed heap and the engine thread's live tensor count at intervals; fails (exit 1) when the
/// live tensor count grows or RSS grows by more than --rss-slack-mib after the first interval. Requests go in waves of
/// --clients (mixed step counts, guidance and step caches) so rows join and leave running batches.
/// Options: --generations 1000  --every 100  --clients 4  --steps 4  --sampler ddpm  --batching continuous
///          --caches off,teacache:0.1,taylor:2 (request i uses the (i mod count)-th; taylor includes fora's path)  --threads 1  --rss-slack-mib 64  --checkpoint PATH
/// </summary>
public sealed class SoakCommand : ICommand
{
    public string Summary => "memory soak: RSS and live tensors over many generations through the engine";

    public int Run(CommandLine options) => Soak(options);

    static int Soak(CommandLine options)
    {
        int generations = Math.Max(1, options.Int("generations", 1000)), every = Math.Max(1, options.Int("every", 100));
        int clients = Math.Max(1, options.Int("clients", 4)), steps = Math.Max(1, options.Int("steps", 4));
        double slackMib = options.Double("rss-slack-mib", 64);
        var sampler = BenchServingCommand.ParseSampler(options.String("sampler") ?? "ddpm");
        var batching = options.String("batching") ?? "continuous";
        var caches = (options.String("caches") ?? "off,teacache:0.1,taylor:2")
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(StepCacheSettings.Parse).ToArray();
        using var host = InProcessEngine.Start(new Dictionary<string, string?>
        {
            ["Model:CheckpointPath"] = options.String("checkpoint") ?? "",
            ["Engine:Batching"] = batching,
            ["Engine:TorchThreads"] = options.Int("threads", 1).ToString(CultureInfo.InvariantCulture),
            ["Engine:QueueCapacity"] = "100000",
        });
        var engine = host.Engine;
        int classes = engine.Model!.Classes.Count;
        double guidance = engine.Model.SupportsGuidance ? 4 : 1;
        Console.WriteLine($"Memory soak: {generations} generations, {clients} clients, {SamplerNames.NameOf(sampler)} {steps} steps, {batching} batching, step caches {string.Join(", ", caches.AsEnumerable())}, {engine.Model.Name}");
        Console.WriteLine("| generations | RSS MiB | managed heap MiB | live tensors (engine thread) | elapsed s |");
        Console.WriteLine("| --- | --- | --- | --- | --- |");

        var process = Process.GetCurrentProcess();
        var watch = Stopwatch.StartNew();
        var samples = new List<(double Rss, long Live)>();
        // Waves of `clients` concurrent requests (half of them twice as long, half guided, every seed different), so rows
        // join and leave running batches; between waves the engine is idle and its live tensor count is comparable.
        for (int done = 0; done < generations;)
        {
            int wave = Math.Min(clients, generations - done);
            Task.WhenAll(Enumerable.Range(done, wave).Select(i => engine.GenerateAsync(
                new GenerationRequest(i % classes, i % 2 == 0 ? guidance : 1, i % 4 < 2 ? steps : 2 * steps, sampler, i) { Cache = caches[i % caches.Length] },
                null, CancellationToken.None)))
                .GetAwaiter().GetResult();
            int before = done;
            done += wave;
            if (done / every == before / every && done != generations) continue;
            while (engine.Stats.RunningRequests > 0) Thread.Sleep(1);
            process.Refresh();
            double rss = process.WorkingSet64 / 1048576.0;
            long live = engine.Stats.LiveTensors;
            samples.Add((rss, live));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {done} | {rss:F1} | {GC.GetTotalMemory(forceFullCollection: true) / 1048576.0:F1} | {live} | {watch.Elapsed.TotalSeconds:F1} |"));
        }

        var (first, last) = (samples[0], samples[^1]);
        bool tensorsFlat = samples.All(s => s.Live <= first.Live);
        bool rssFlat = last.Rss - first.Rss <= slackMib;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"live tensors {(tensorsFlat ? "flat" : "GREW")} ({first.Live} -> {last.Live}); RSS {last.Rss - first.Rss:+0.0;-0.0} MiB after the first interval ({(rssFlat ? "within" : "OVER")} {slackMib} MiB); {generations / watch.Elapsed.TotalSeconds:F1} images/s"));
        return tensorsFlat && rssFlat ? 0 : 1;
    }
}
