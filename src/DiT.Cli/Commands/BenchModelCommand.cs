using System.Diagnostics;
using System.Globalization;
using DiT.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit bench-model`: measured fp32 matmul throughput, then DiT forward latency and achieved GFLOP/s per model and batch.
/// Options: --models DiT-S/2,DiT-B/2,DiT-XL/2  --batches 1,8  --input-size 32  --runs 5  --budget-seconds 150
///          --matmul-size 2048  --device cpu  --dtype float32  --threads N
/// </summary>
public sealed class BenchModelCommand : ICommand
{
    public string Summary => "benchmark DiT forward passes against the machine's matmul peak";

    public int Run(CommandLine options)
    {
        try { return Bench(options); }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"bench-model: {e.Message}");
            return 2;
        }
    }

    static int Bench(CommandLine options)
    {
        var models = (options.String("models") ?? "DiT-S/2,DiT-B/2,DiT-XL/2").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var batches = ParseBatches(options.String("batches") ?? "1,8");
        int inputSize = options.Int("input-size", 32), runs = Math.Max(1, options.Int("runs", 5)), matmulSize = options.Int("matmul-size", 2048);
        double budget = options.Double("budget-seconds", 150);
        var device = torch.device(options.String("device") ?? "cpu");
        var dtype = ParseDtype(options.String("dtype") ?? "float32");
        if (options.Has("threads")) set_num_threads(options.Int("threads", 1));
        foreach (var name in models) DiTConfig.Preset(name); // fail fast on a bad name, before minutes of work

        Console.WriteLine($"DiT forward benchmark: device {device}, {dtype}, {get_num_threads()} torch threads, {Environment.ProcessorCount} logical CPUs, {RuntimeInformationText()}");
        double peak = MatmulGflops(matmulSize, device, dtype);
        Console.WriteLine($"matmul {matmulSize}x{matmulSize}x{matmulSize} ({dtype}): {peak:F1} GFLOP/s (fastest of 10, 2*n^3 flops)");
        Console.WriteLine();
        Console.WriteLine("| model | latent | batch | params | GMACs/img | forward (median) | achieved GFLOP/s | of matmul peak |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- |");

        foreach (var name in models)
        {
            var config = DiTConfig.Preset(name, inputSize: inputSize);
            using var model = new DiTModel(config);
            model.to(dtype).to(device).eval();
            double? perImageSeconds = null;
            foreach (var batch in batches)
            {
                // Warm-up plus the timed runs; skip a batch whose estimate (from a smaller one) exceeds the budget.
                if (perImageSeconds is { } est && est * batch * (runs + 1) > budget)
                {
                    Console.WriteLine($"| {name} | {inputSize}x{inputSize} | {batch} | {config.ParameterCount() / 1e6:F1}M | {config.Gflops():F2} | skipped: ~{est * batch:F0} s per forward x {runs + 1} exceeds --budget-seconds {budget:F0} | | |");
                    continue;
                }
                double seconds = ForwardSeconds(model, config, batch, runs, device, dtype);
                perImageSeconds = seconds / batch;
                double achieved = 2 * config.Gflops() * batch / seconds;
                Console.WriteLine($"| {name} | {inputSize}x{inputSize} | {batch} | {config.ParameterCount() / 1e6:F1}M | {config.Gflops():F2} | {seconds:F3} s | {achieved:F1} | {achieved / peak:P0} |");
            }
        }
        return 0;
    }

    static double MatmulGflops(int n, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        var a = randn(n, n, dtype: dtype, device: device);
        var b = randn(n, n, dtype: dtype, device: device);
        // The fastest of 10: a peak, and the least disturbed by other processes on a shared machine.
        double seconds = Timings(10, () => { using var c = a.matmul(b); Synchronize(device); })[0];
        return 2.0 * n * n * n / seconds / 1e9;
    }

    static double ForwardSeconds(DiTModel model, DiTConfig config, int batch, int runs, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        var x = randn(batch, config.InChannels, config.InputSize, config.InputSize, dtype: dtype, device: device);
        var t = randint(0, 1000, [batch], dtype: ScalarType.Int64, device: device);
        var y = randint(0, config.NumClasses, [batch], dtype: ScalarType.Int64, device: device);
        return Median(runs, () => { using var output = model.forward(x, t, y); Synchronize(device); });
    }

    /// <summary>
    /// Median wall time of <paramref name="runs"/> calls after untimed warm-up calls (at least one, up to three
    /// while they take under 2 s in all: the first forwards of a process run well below steady-state speed).
    /// </summary>
    static double Median(int runs, Action action)
    {
        var times = Timings(runs, action);
        return runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    }

    /// <summary>Sorted wall times of <paramref name="runs"/> calls, after the warm-up described at <see cref="Median"/>.</summary>
    static double[] Timings(int runs, Action action)
    {
        var warmUp = Stopwatch.StartNew();
        for (int i = 0; i < 3 && (i == 0 || warmUp.Elapsed.TotalSeconds < 2); i++) action();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            times[i] = watch.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times;
    }

    static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }

    static int[] ParseBatches(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var batches = parts.Select(p => int.TryParse(p, CultureInfo.InvariantCulture, out var b) && b > 0 ? b : -1).ToArray();
        if (batches.Length == 0 || batches.Contains(-1))
            throw new ArgumentException($"--batches expects comma-separated positive integers, got '{text}'.");
        return batches;
    }

    static ScalarType ParseDtype(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "float16" or "fp16" => ScalarType.Float16,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float64" or "fp64" => ScalarType.Float64,
        _ => throw new ArgumentException($"--dtype '{name}' is not one of float32, float16, bfloat16, float64."),
    };

    static string RuntimeInformationText() => $"TorchSharp {typeof(torch).Assembly.GetName().Version}, .NET {Environment.Version}";
}
