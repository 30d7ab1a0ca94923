using System.Diagnostics;
using System.Globalization;
using DiT.Diffusion;
using DiT.Model;
using DiT.Model.StepCaching;
using DiT.Training.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit bench-stepcache`: one sampling loop (a DiT preset with random weights, guided, so each row is two model rows)
/// per step cache setting, in one process: full passes against the uncached loop next to wall time against it.
/// Options: --model DiT-XL/2  --input-size 32  --steps 50  --sampler ddim|ddpm|dpm  --rows 1 (model batch 2 x rows)
///          --caches off,fora:2,fora:3,taylor:3,teacache:0.1  --runs 1 (rounds)  --device cpu  --threads N
/// </summary>
public sealed class BenchStepCacheCommand : ICommand
{
    public string Summary => "time a guided sampling loop with each step cache setting: wall-time ratio next to the full-pass ratio";

    public int Run(CommandLine options) => Bench(options);

    static int Bench(CommandLine options)
    {
        var name = options.String("model") ?? "DiT-XL/2";
        int inputSize = options.Int("input-size", 32), steps = options.Int("steps", 50), rows = Math.Max(1, options.Int("rows", 1));
        int runs = Math.Max(1, options.Int("runs", 1));
        var sampler = EvalSetting.Parse($"{options.String("sampler") ?? "ddim"}:{steps}:4").Sampler;
        var caches = (options.String("caches") ?? "off,fora:2,fora:3,taylor:3,teacache:0.1")
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(StepCacheSettings.Parse).ToList();
        if (!caches[0].IsOff) caches.Insert(0, StepCacheSettings.Off); // the baseline comes first
        var device = torch.device(options.String("device") ?? "cpu");
        if (options.Has("threads")) set_num_threads(options.Int("threads", 1));

        var config = DiTConfig.Preset(name, inputSize: inputSize);
        using var model = new DiTModel(config);
        BenchModelCommand.RandomizeZeroInitialised(model);
        model.to(device).eval();
        var draws = Enumerable.Range(0, rows).Select(i => (Class: i % config.NumClasses, Seed: (long)i)).ToArray();
        Console.WriteLine($"Step-cache benchmark: {name} at {inputSize}x{inputSize} latents, random weights, {new EvalSetting(sampler, steps, 4).SamplerName} {steps} steps, guidance 4, "
            + $"{rows} row(s) = model batch {2 * rows}, {device} float32, {get_num_threads()} torch threads, fastest of {runs} round(s)");

        using (NewDisposeScope()) SampleQuality.Draw(model, new EvalSetting(sampler, 2, 4), draws); // warm-up: first forwards run slow

        // Rounds of one loop per setting, fastest per setting over the rounds: on a shared machine a burst of load then
        // hits one loop of a round, not every loop of one setting.
        var fastest = caches.Select(_ => double.MaxValue).ToArray();
        var passes = new ModelPasses[caches.Count];
        for (int round = 0; round < runs; round++)
            for (int i = 0; i < caches.Count; i++)
            {
                Console.Error.WriteLine($"bench-stepcache: round {round + 1}/{runs}, {caches[i]}...");
                var (seconds, counted) = Loop(model, new EvalSetting(sampler, steps, 4) { Cache = caches[i] }, draws);
                (fastest[i], passes[i]) = (Math.Min(fastest[i], seconds), counted);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench-stepcache: {caches[i]}: {seconds:F1} s, {counted} full/total passes"));
            }

        Console.WriteLine();
        Console.WriteLine("| cache | full passes / total | full passes vs off | wall s | wall vs off | speed-up |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        for (int i = 0; i < caches.Count; i++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {caches[i]} | {passes[i]} | {(double)passes[i].Full / passes[0].Full:F2} | {fastest[i]:F1} | {fastest[i] / fastest[0]:F2} | {fastest[0] / fastest[i]:F2}x |"));
        return 0;
    }

    /// <summary>The wall time of one whole sampling loop (noise to images) and its model passes.</summary>
    static (double Seconds, ModelPasses Passes) Loop(DiTModel model, EvalSetting setting, (int Class, long Seed)[] draws)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var watch = Stopwatch.StartNew();
        SampleQuality.DrawSamples(model, setting, draws, out var passes);
        return (watch.Elapsed.TotalSeconds, passes);
    }
}
