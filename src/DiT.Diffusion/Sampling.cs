using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion;

/// <summary>The samplers; <see cref="SamplerNames"/> has their wire names.</summary>
public enum SamplerKind { Ddpm, Ddim, DpmSolverPP2M }

/// <summary>
/// How to sample. Respacing null picks the default for the kind: "{Steps}" for DDPM (as DiT's sample.py),
/// "ddim{Steps}" for DDIM when an integer stride gives exactly Steps steps, else "{Steps}", and "linspace{Steps}" for
/// DPM-Solver++ (diffusers' DPMSolverMultistepScheduler). Any respacing <see cref="DiT.Diffusion.Respacing"/> accepts
/// may be given instead ("250", "ddim25", sections "10,20,30", "linspace20"); it must keep exactly Steps steps.
/// </summary>
public sealed record SamplerSettings(SamplerKind Kind, int Steps, double Eta = 0, bool ClipDenoised = false, string? Respacing = null)
{
    public string EffectiveRespacing(int baseSteps) => Respacing ?? Kind switch
    {
        SamplerKind.Ddim when DiT.Diffusion.Respacing.HasDdimStride(baseSteps, Steps) => $"ddim{Steps}",
        SamplerKind.DpmSolverPP2M => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"linspace{Steps}"),
        _ => Steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>True when a step of this sampler consumes Gaussian noise.</summary>
    public bool UsesNoise => Kind == SamplerKind.Ddpm || (Kind == SamplerKind.Ddim && Eta != 0);
}

/// <summary>Noise for loop step k (0 = first, noisiest), shaped like x.</summary>
public delegate Tensor StepNoise(int step, Tensor like);

/// <summary>
/// A sampler bound to its respaced process: the step the engine calls once per batch step, where every row carries
/// its own respaced index t (rows may have joined at different times).
/// </summary>
public sealed class Sampler
{
    public SamplerSettings Settings { get; }
    public GaussianDiffusion Diffusion { get; }
    public int Steps => Diffusion.NumTimesteps;

    public Sampler(SamplerSettings settings, DiffusionOptions? diffusion = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        diffusion ??= new DiffusionOptions();
        if (settings.Steps < 1 || settings.Steps > diffusion.Steps)
            throw new ArgumentOutOfRangeException(nameof(settings), settings.Steps, $"Sampling steps must be between 1 and {diffusion.Steps}.");
        if (settings.Eta < 0 || double.IsNaN(settings.Eta)) throw new ArgumentOutOfRangeException(nameof(settings), settings.Eta, "Eta must be >= 0.");
        Settings = settings;
        var respacing = settings.EffectiveRespacing(diffusion.Steps);
        Diffusion = GaussianDiffusion.Create(diffusion with { Respacing = respacing });
        if (Diffusion.NumTimesteps != settings.Steps)
            throw new ArgumentException($"Respacing '{respacing}' keeps {Diffusion.NumTimesteps} steps, but the settings ask for {settings.Steps}.", nameof(settings));
    }

    /// <summary>Respaced index of loop step k for a row that started at k = 0.</summary>
    public long IndexOfStep(int k) => Steps - 1 - k;

    /// <summary>
    /// One step for every row at its own index t (N). noise is needed when <see cref="SamplerSettings.UsesNoise"/>;
    /// previousPredXStart is the PredXStart this row's previous step returned (DPM-Solver++ only).
    /// </summary>
    public StepResult Step(Denoiser model, Tensor x, Tensor t, Tensor? noise, Tensor? previousPredXStart = null) => Settings.Kind switch
    {
        SamplerKind.Ddpm => Diffusion.PSample(model, x, t, noise ?? throw new ArgumentNullException(nameof(noise), "DDPM steps need noise."), Settings.ClipDenoised),
        SamplerKind.Ddim => Diffusion.DdimSample(model, x, t, noise, Settings.Eta, Settings.ClipDenoised),
        SamplerKind.DpmSolverPP2M => Diffusion.DpmSolverPP2MStep(model, x, t, previousPredXStart, Settings.ClipDenoised),
        _ => throw new ArgumentOutOfRangeException(nameof(Settings.Kind), Settings.Kind, "Unknown sampler."),
    };
}

/// <summary>Whole sampling loops: one dispose scope per step, cancellation checked between steps.</summary>
public static class Sampling
{
    /// <summary>Samples from x_T = <paramref name="noise"/> with per-sample generators (row i draws only from generators[i]).</summary>
    public static Tensor Sample(Denoiser model, Tensor noise, SamplerSettings settings, Generator[] perSampleGenerators,
        CancellationToken ct = default, Action<int, int>? onStep = null, DiffusionOptions? diffusion = null)
    {
        ArgumentNullException.ThrowIfNull(perSampleGenerators);
        if (perSampleGenerators.Length != noise.shape[0])
            throw new ArgumentException($"{perSampleGenerators.Length} generators for a batch of {noise.shape[0]}.");
        return Sample(model, noise, settings, (_, like) => PerSampleNoise(perSampleGenerators, like), ct, onStep, diffusion);
    }

    /// <summary>
    /// Samples with an explicit noise source (e.g. a replay of recorded noise); it is called once per step for DDPM
    /// and DDIM (as the reference draws randn_like every step, even for eta 0 and the masked t == 0 step) and never
    /// for DPM-Solver++. onIntermediate sees (k, sample, pred_xstart) of each step; the tensors live only during the call.
    /// The model is called with x in the noise's dtype; for float16/bfloat16 the trajectory itself is kept in float32.
    /// </summary>
    public static Tensor Sample(Denoiser model, Tensor noise, SamplerSettings settings, StepNoise stepNoise,
        CancellationToken ct = default, Action<int, int>? onStep = null, DiffusionOptions? diffusion = null,
        Action<int, Tensor, Tensor>? onIntermediate = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stepNoise);
        var sampler = new Sampler(settings, diffusion);
        bool drawsEachStep = settings.Kind != SamplerKind.DpmSolverPP2M;
        using var loopScope = NewDisposeScope();
        using var noGrad = no_grad();
        // The noise's dtype is the model's (see Trajectory for half precision).
        var modelDtype = noise.dtype;
        bool halfPrecision = Trajectory.DtypeFor(modelDtype) != modelDtype;
        model = Trajectory.ForModelDtype(model, modelDtype);
        Tensor x = halfPrecision ? noise.to(Trajectory.DtypeFor(modelDtype)) : noise;
        Tensor? predXStart = null;
        for (int k = 0; k < sampler.Steps; k++)
        {
            ct.ThrowIfCancellationRequested();
            using (var stepScope = NewDisposeScope())
            {
                var t = KeptScalars.Full([noise.shape[0]], sampler.IndexOfStep(k), ScalarType.Int64, noise.device);
                var stepNoiseTensor = drawsEachStep ? stepNoise(k, x) : null;
                var result = sampler.Step(model, x, t, stepNoiseTensor, predXStart);
                onIntermediate?.Invoke(k, result.Sample, result.PredXStart);
                var nextX = result.Sample.MoveToOuterDisposeScope();
                var nextPred = result.PredXStart.MoveToOuterDisposeScope();
                if (!ReferenceEquals(x, noise)) x.Dispose();
                predXStart?.Dispose();
                (x, predXStart) = (nextX, nextPred);
            }
            onStep?.Invoke(k + 1, sampler.Steps);
        }
        predXStart?.Dispose();
        return (halfPrecision ? x.to(modelDtype) : x).MoveToOuterDisposeScope(); // Steps >= 1: never the caller's noise
    }

    /// <summary>Gaussian noise shaped like x whose row i comes from generators[i] alone (drawn on the CPU, then moved).</summary>
    public static Tensor PerSampleNoise(Generator[] generators, Tensor like)
    {
        if (generators.Length != like.shape[0]) throw new ArgumentException($"{generators.Length} generators for {like.shape[0]} rows.");
        return PerSampleNoise(generators, like.shape.Skip(1).ToArray(), like.device, like.dtype);
    }

    /// <summary>(N, ...rowShape) Gaussian noise, row i from generators[i]; the same seed gives the same row on any device.</summary>
    public static Tensor PerSampleNoise(Generator[] generators, long[] rowShape, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        var rows = generators.Select(g => randn(rowShape, ScalarType.Float32, CPU, generator: g)).ToArray();
        return stack(rows, 0).to(dtype, device ?? CPU).MoveToOuterDisposeScope();
    }

    /// <summary>One CPU generator per seed, for <see cref="Sample(Denoiser, Tensor, SamplerSettings, Generator[], CancellationToken, Action{int, int}?, DiffusionOptions?)"/>.</summary>
    public static Generator[] Generators(IEnumerable<long> seeds) => seeds.Select(s => new Generator(unchecked((ulong)s), CPU)).ToArray();
}
