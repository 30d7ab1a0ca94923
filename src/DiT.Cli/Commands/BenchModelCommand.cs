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
///          --tf32 (CUDA: float32 matmuls and convolutions on TF32 tensor cores, as the service's Model:AllowTf32)
///          --verify (also run each model once in float32 on the CPU and print the device's relative error against it)
/// </summary>
public sealed class BenchModelCommand : ICommand
{
    public string Summary => "benchmark DiT forward passes against the machine's matmul peak";

    public int Run(CommandLine options) => Bench(options);

    static int Bench(CommandLine options)
    {
        var models = (options.String("models") ?? "DiT-S/2,DiT-B/2,DiT-XL/2").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var batches = ParseBatches(options.String("batches") ?? "1,8");
        int inputSize = options.Int("input-size", 32), runs = Math.Max(1, options.Int("runs", 5)), matmulSize = options.Int("matmul-size", 2048);
        double budget = options.Double("budget-seconds", 150);
        var device = torch.device(options.String("device") ?? "cpu");
        var dtype = ParseDtype(options.String("dtype") ?? "float32");
        if (options.Has("threads")) set_num_threads(options.Int("threads", 1));
        bool verify = options.Has("verify");
        if (options.Has("tf32")) backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = true;
        foreach (var name in models) DiTConfig.Preset(name); // fail fast on a bad name, before minutes of work

        Console.WriteLine($"DiT forward benchmark: device {device}, {dtype}{(options.Has("tf32") ? " (TF32 matmuls)" : "")}, {get_num_threads()} torch threads, {Environment.ProcessorCount} logical CPUs, {RuntimeInformationText()}");
        // The peak is sampled again after every measurement and the best sample is used for every row: on a shared
        // machine a single early sample may hit a busy moment, and the forward times (fastest of the runs) catch quiet ones.
        double peak = MatmulGflops(matmulSize, device, dtype, samples: 10);
        var rows = new List<Func<double, string>>();
        var errors = new List<string>();
        foreach (var name in models)
        {
            var config = DiTConfig.Preset(name, inputSize: inputSize);
            using var model = new DiTModel(config);
            RandomizeZeroInitialised(model);
            using var reference = verify ? new DeviceCheck(model, config) : null;
            model.to(dtype).to(device).eval();
            if (reference is not null) errors.Add($"| {name} | {reference.RelativeError(model, device, dtype):0.00e+00} |");
            double? perImageSeconds = null;
            foreach (var batch in batches)
            {
                string head = $"| {name} | {inputSize}x{inputSize} | {batch} | {config.ParameterCount() / 1e6:F1}M | {config.Gflops():F2} |";
                // Warm-up plus the timed runs; skip a batch whose estimate (from a smaller one) exceeds the budget.
                if (perImageSeconds is { } est && est * batch * (runs + 1) > budget)
                {
                    rows.Add(_ => $"{head} skipped: ~{est * batch:F0} s per forward x {runs + 1} exceeds --budget-seconds {budget:F0} | | | | | |");
                    continue;
                }
                Console.Error.WriteLine($"bench-model: {name} batch {batch}...");
                var times = ForwardTimings(model, config, batch, runs, device, dtype);
                double median = Median(times), fastest = times[0], gemms = GemmSeconds(config, batch, runs, device, dtype);
                perImageSeconds = median / batch;
                double achieved = 2 * config.Gflops() * batch / fastest;
                rows.Add(p => $"{head} {median:F3} s | {fastest:F3} s | {achieved:F1} | {achieved / p:P0} | {gemms:F3} s | {fastest / gemms:F2} |");
                peak = Math.Max(peak, MatmulGflops(matmulSize, device, dtype, samples: 3));
            }
        }

        Console.WriteLine($"matmul {matmulSize}x{matmulSize}x{matmulSize} ({dtype}): {peak:F1} GFLOP/s (fastest of all samples: 10 first, 3 after each row; 2*n^3 flops)");
        Console.WriteLine();
        Console.WriteLine("| model | latent | batch | params | GMACs/img | forward (median) | forward (fastest) | achieved GFLOP/s (fastest) | of matmul peak | its GEMMs alone (fastest) | forward / GEMMs alone |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var row in rows) Console.WriteLine(row(peak));
        if (verify)
        {
            Console.WriteLine();
            Console.WriteLine($"| model | {device} {dtype} vs CPU float32: max abs difference / max abs output (batch 2) |");
            Console.WriteLine("| --- | --- |");
            foreach (var line in errors) Console.WriteLine(line);
        }
        return 0;
    }

    /// <summary>
    /// adaLN-Zero initialises every modulation and the final layer to zero, so a fresh model outputs zeros whatever
    /// its other weights: a comparison of outputs would compare nothing. Small random values make every path count
    /// (timing is unaffected: the same kernels run on different numbers).
    /// </summary>
    internal static void RandomizeZeroInitialised(DiTModel model)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
            if (name.Contains("adaLN_modulation", StringComparison.Ordinal) || name.StartsWith("final_layer.linear", StringComparison.Ordinal))
                parameter.normal_(0, 0.02);
    }

    /// <summary>The model's output on fixed inputs in float32 on the CPU, taken before it moves to the device.</summary>
    sealed class DeviceCheck : IDisposable
    {
        readonly Tensor _x, _t, _y, _expected;

        public DeviceCheck(DiTModel model, DiTConfig config)
        {
            using var noGrad = inference_mode();
            var generator = new Generator(0);
            _x = randn([2, config.InChannels, config.InputSize, config.InputSize], generator: generator).DetachFromDisposeScope();
            _t = tensor(new long[] { 10, 900 }).DetachFromDisposeScope();
            _y = tensor(new long[] { 1, config.NumClasses - 1 }).DetachFromDisposeScope();
            model.eval();
            _expected = model.forward(_x, _t, _y).DetachFromDisposeScope();
        }

        public double RelativeError(DiTModel model, Device device, ScalarType dtype)
        {
            using var scope = NewDisposeScope();
            using var noGrad = inference_mode();
            var actual = model.forward(_x.to(dtype).to(device), _t.to(device), _y.to(device)).to(ScalarType.Float32).cpu();
            return (actual - _expected).abs().max().ToDouble() / _expected.abs().max().ToDouble();
        }

        public void Dispose()
        {
            _x.Dispose(); _t.Dispose(); _y.Dispose(); _expected.Dispose();
        }
    }

    static double MatmulGflops(int n, Device device, ScalarType dtype, int samples)
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        var a = randn(n, n, dtype: dtype, device: device);
        var b = randn(n, n, dtype: dtype, device: device);
        // The fastest sample: a peak, and the least disturbed by other processes on a shared machine.
        double seconds = Timings(samples, () => { using var c = a.matmul(b); Synchronize(device); })[0];
        return 2.0 * n * n * n / seconds / 1e9;
    }

    /// <summary>Sorted forward times; the fastest is compared with the fastest matmul (the same estimator of an
    /// undisturbed run), the median says what a loaded machine gives.</summary>
    static double[] ForwardTimings(DiTModel model, DiTConfig config, int batch, int runs, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        var x = randn(batch, config.InChannels, config.InputSize, config.InputSize, dtype: dtype, device: device);
        var t = randint(0, 1000, [batch], dtype: ScalarType.Int64, device: device);
        var y = randint(0, config.NumClasses, [batch], dtype: ScalarType.Int64, device: device);
        return Timings(runs, () => { using var output = model.forward(x, t, y); Synchronize(device); });
    }

    /// <summary>
    /// The fastest time of the forward's matrix products alone, at the forward's shapes: per block the qkv, proj, fc1
    /// and fc2 linears (with bias), the two attention batched products and the adaLN linear, plus the patch
    /// embedding, timestep MLP and final layer. A forward / GEMMs ratio near 1 means everything else (norms, GELU,
    /// softmax, modulation, copies) costs little and the gap to the matmul peak is the GEMM shapes themselves.
    /// </summary>
    static double GemmSeconds(DiTConfig config, int batch, int runs, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        int d = config.HiddenSize, h = config.MlpHiddenSize, heads = config.NumHeads, dh = d / heads, p = config.PatchSize;
        long tokens = batch * (long)config.GridSize * config.GridSize, seq = config.GridSize * config.GridSize;
        Tensor Rand(params long[] shape) => randn(shape, dtype: dtype, device: device);
        var (x, c) = (Rand(tokens, d), Rand(batch, d));
        var (wQkv, wProj, wFc1, wFc2, wAda) = (Rand(3 * d, d), Rand(d, d), Rand(h, d), Rand(d, h), Rand(6 * d, d));
        var (bQkv, bD, bH, bAda) = (Rand(3 * d), Rand(d), Rand(h), Rand(6 * d));
        var hidden = Rand(tokens, h);
        var (q, k) = (Rand(batch * heads, seq, dh), Rand(batch * heads, dh, seq));
        var scores = Rand(batch * heads, seq, seq);
        var patches = Rand(tokens, config.InChannels * p * p);
        var (wPatch, wOut) = (Rand(d, config.InChannels * p * p), Rand(p * p * config.OutChannels, d));
        var (freq, wT1, wT2) = (Rand(batch, DiTConfig.FrequencyEmbeddingSize), Rand(d, DiTConfig.FrequencyEmbeddingSize), Rand(d, d));
        return Timings(runs, () =>
        {
            using var step = NewDisposeScope();
            nn.functional.linear(patches, wPatch, bD);
            nn.functional.linear(nn.functional.linear(freq, wT1, bD), wT2, bD);
            for (int i = 0; i < config.Depth; i++)
            {
                nn.functional.linear(c, wAda, bAda);
                nn.functional.linear(x, wQkv, bQkv);
                q.bmm(k);
                scores.bmm(q);
                nn.functional.linear(x, wProj, bD);
                nn.functional.linear(x, wFc1, bH);
                nn.functional.linear(hidden, wFc2, bD);
                step.DisposeEverything();
            }
            nn.functional.linear(x, wOut);
            Synchronize(device);
        })[0];
    }

    static double Median(double[] sorted) =>
        sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    /// <summary>
    /// Sorted wall times of <paramref name="runs"/> calls after untimed warm-up calls (at least one, up to three
    /// while they take under 2 s in all: the first forwards of a process run well below steady-state speed).
    /// </summary>
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
