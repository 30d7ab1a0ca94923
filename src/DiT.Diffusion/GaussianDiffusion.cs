using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion;

/// <summary>The model: x (N, C, H, W) and ORIGINAL timesteps t (N) int64 in, output (N, C or 2C, H, W) out.</summary>
public delegate Tensor Denoiser(Tensor x, Tensor t);

/// <summary>What p(x_{t-1} | x_t) is, as the model predicts it (p_mean_variance).</summary>
public sealed record PosteriorPrediction(Tensor Mean, Tensor Variance, Tensor LogVariance, Tensor PredXStart);

/// <summary>One reverse step's result: the next sample and the x0 prediction it used.</summary>
public sealed record StepResult(Tensor Sample, Tensor PredXStart);

/// <summary>
/// DiT's Gaussian diffusion (a SpacedDiffusion of the reference): schedule tables in double precision and the
/// q / p distributions. Timestep arguments t are indices into THIS (possibly respaced) process, one per sample,
/// so rows of a batch may be at different steps; the model is always called with <see cref="TimestepMap"/>[t].
/// Every coefficient is rounded to float32 before use, as the reference's _extract_into_tensor does.
/// </summary>
public sealed partial class GaussianDiffusion
{
    // ---------------------------------------------------------------- tables

    public DiffusionOptions Options { get; }
    public int NumTimesteps => Betas.Length;
    /// <summary>Base (original) timestep of each respaced index: what the model sees.</summary>
    public long[] TimestepMap { get; }

    public double[] Betas { get; }
    public double[] AlphasCumprod { get; }
    public double[] AlphasCumprodPrev { get; }
    public double[] AlphasCumprodNext { get; }
    public double[] SqrtAlphasCumprod { get; }
    public double[] SqrtOneMinusAlphasCumprod { get; }
    public double[] LogOneMinusAlphasCumprod { get; }
    public double[] SqrtRecipAlphasCumprod { get; }
    public double[] SqrtRecipm1AlphasCumprod { get; }
    public double[] PosteriorVariance { get; }
    /// <summary>log posterior variance with entry 0 replaced by entry 1 (the variance is 0 at t = 0).</summary>
    public double[] PosteriorLogVarianceClipped { get; }
    public double[] PosteriorMeanCoef1 { get; }
    public double[] PosteriorMeanCoef2 { get; }

    readonly double[] _logBetas, _oneMinusAlphasCumprod, _fixedLargeVariance, _fixedLargeLogVariance;

    /// <summary>Builds the process of <paramref name="options"/>: base betas, then the respaced betas 1 - abar[t_k]/abar[t_{k-1}].</summary>
    public static GaussianDiffusion Create(DiffusionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Steps < 1) throw new ArgumentException($"Diffusion steps must be at least 1, got {options.Steps}.");
        var baseBetas = BetaSchedules.Named(options.Schedule, options.Steps);
        var kept = Respacing.Space(options.Steps, options.Respacing);
        var keptSet = kept.ToHashSet();
        var betas = new List<double>();
        double cumprod = 1, last = 1;
        for (int i = 0; i < baseBetas.Length; i++)
        {
            cumprod *= 1 - baseBetas[i];
            if (!keptSet.Contains(i)) continue;
            betas.Add(1 - cumprod / last);
            last = cumprod;
        }
        return new GaussianDiffusion(betas.ToArray(), kept.Select(k => (long)k).ToArray(), options);
    }

    GaussianDiffusion(double[] betas, long[] timestepMap, DiffusionOptions options)
    {
        if (betas.Any(b => !(b > 0 && b <= 1))) throw new ArgumentException("Every beta must lie in (0, 1].");
        Options = options;
        TimestepMap = timestepMap;
        Betas = betas;
        int n = betas.Length;
        AlphasCumprod = new double[n];
        double cumprod = 1;
        for (int i = 0; i < n; i++) AlphasCumprod[i] = cumprod *= 1 - betas[i];
        AlphasCumprodPrev = [1.0, .. AlphasCumprod[..^1]];
        AlphasCumprodNext = [.. AlphasCumprod[1..], 0.0];
        SqrtAlphasCumprod = Map(AlphasCumprod, Math.Sqrt);
        SqrtOneMinusAlphasCumprod = Map(AlphasCumprod, a => Math.Sqrt(1 - a));
        LogOneMinusAlphasCumprod = Map(AlphasCumprod, a => Math.Log(1 - a));
        SqrtRecipAlphasCumprod = Map(AlphasCumprod, a => Math.Sqrt(1 / a));
        SqrtRecipm1AlphasCumprod = Map(AlphasCumprod, a => Math.Sqrt(1 / a - 1));
        PosteriorVariance = Enumerable.Range(0, n).Select(i => betas[i] * (1 - AlphasCumprodPrev[i]) / (1 - AlphasCumprod[i])).ToArray();
        // With one step there is no entry 1 to borrow; beta keeps the log finite (its sample is never noised anyway).
        double first = n > 1 ? PosteriorVariance[1] : betas[0];
        PosteriorLogVarianceClipped = [Math.Log(first), .. PosteriorVariance[1..].Select(v => Math.Log(v))];
        PosteriorMeanCoef1 = Enumerable.Range(0, n).Select(i => betas[i] * Math.Sqrt(AlphasCumprodPrev[i]) / (1 - AlphasCumprod[i])).ToArray();
        PosteriorMeanCoef2 = Enumerable.Range(0, n).Select(i => (1 - AlphasCumprodPrev[i]) * Math.Sqrt(1 - betas[i]) / (1 - AlphasCumprod[i])).ToArray();
        _logBetas = Map(betas, Math.Log);
        _oneMinusAlphasCumprod = Map(AlphasCumprod, a => 1 - a);
        _fixedLargeVariance = [first, .. betas[1..]];
        _fixedLargeLogVariance = Map(_fixedLargeVariance, Math.Log);
    }

    static double[] Map(double[] values, Func<double, double> f) => values.Select(f).ToArray();

    // ---------------------------------------------------------------- forward process q

    /// <summary>Samples q(x_t | x_0) = sqrt(abar) x0 + sqrt(1 - abar) noise.</summary>
    public Tensor QSample(Tensor xStart, Tensor t, Tensor noise)
    {
        CheckSameShape(xStart, noise, "noise");
        var idx = Indices(t, xStart);
        using var scope = NewDisposeScope();
        return (Coef(SqrtAlphasCumprod, idx, xStart) * xStart).Plus(Coef(SqrtOneMinusAlphasCumprod, idx, xStart) * noise)
            .MoveToOuterDisposeScope();
    }

    /// <summary>Mean, variance and log variance of q(x_t | x_0), each of x0's shape.</summary>
    public (Tensor Mean, Tensor Variance, Tensor LogVariance) QMeanVariance(Tensor xStart, Tensor t)
    {
        var idx = Indices(t, xStart);
        using var scope = NewDisposeScope();
        var mean = Coef(SqrtAlphasCumprod, idx, xStart) * xStart;
        var variance = Coef(_oneMinusAlphasCumprod, idx, xStart).expand(xStart.shape).contiguous();
        var logVariance = Coef(LogOneMinusAlphasCumprod, idx, xStart).expand(xStart.shape).contiguous();
        return (mean.MoveToOuterDisposeScope(), variance.MoveToOuterDisposeScope(), logVariance.MoveToOuterDisposeScope());
    }

    /// <summary>Mean, variance and clipped log variance of the posterior q(x_{t-1} | x_t, x_0).</summary>
    public (Tensor Mean, Tensor Variance, Tensor LogVarianceClipped) QPosteriorMeanVariance(Tensor xStart, Tensor xT, Tensor t)
    {
        CheckSameShape(xStart, xT, "x_t");
        var idx = Indices(t, xT);
        using var scope = NewDisposeScope();
        var (mean, variance, logVariance) = Posterior(xStart, xT, idx);
        return (mean.MoveToOuterDisposeScope(), variance.MoveToOuterDisposeScope(), logVariance.MoveToOuterDisposeScope());
    }

    (Tensor Mean, Tensor Variance, Tensor LogVariance) Posterior(Tensor xStart, Tensor xT, long[] idx) => (
        (Coef(PosteriorMeanCoef1, idx, xT) * xStart).Plus(Coef(PosteriorMeanCoef2, idx, xT) * xT),
        Coef(PosteriorVariance, idx, xT).expand(xT.shape).contiguous(),
        Coef(PosteriorLogVarianceClipped, idx, xT).expand(xT.shape).contiguous());

    // ---------------------------------------------------------------- reverse process p

    /// <summary>The ORIGINAL timesteps the model is called with for respaced indices t.</summary>
    public Tensor ModelTimesteps(Tensor t)
    {
        var idx = Indices(t, null);
        return tensor(idx.Select(i => TimestepMap[i]).ToArray(), ScalarType.Int64, t.device);
    }

    /// <summary>Runs the model at x_t and turns its output into p(x_{t-1} | x_t) (p_mean_variance).</summary>
    public PosteriorPrediction PMeanVariance(Denoiser model, Tensor x, Tensor t, bool clipDenoised)
    {
        using var scope = NewDisposeScope();
        var output = model(x, ModelTimesteps(t));
        var p = PMeanVarianceFromOutput(output, x, t, clipDenoised);
        return new PosteriorPrediction(p.Mean.MoveToOuterDisposeScope(), p.Variance.MoveToOuterDisposeScope(),
            p.LogVariance.MoveToOuterDisposeScope(), p.PredXStart.MoveToOuterDisposeScope());
    }

    /// <summary>p_mean_variance for a model output already computed at x_t (learned range, fixed large or fixed small variance).</summary>
    public PosteriorPrediction PMeanVarianceFromOutput(Tensor modelOutput, Tensor x, Tensor t, bool clipDenoised)
    {
        var idx = Indices(t, x);
        using var scope = NewDisposeScope();
        var (prediction, v) = SplitOutput(modelOutput, x);
        Tensor variance, logVariance;
        if (v is not null)
        {
            // LEARNED_RANGE: v in [-1, 1] interpolates log beta and the clipped posterior log variance (v is not clamped).
            var minLog = Coef(PosteriorLogVarianceClipped, idx, x);
            var maxLog = Coef(_logBetas, idx, x);
            var frac = v.Plus(1).DividedBy(2);
            logVariance = (frac * maxLog).Plus(frac.SubtractedFrom(1) * minLog);
            variance = logVariance.exp();
        }
        else
        {
            var (table, logTable) = Options.SigmaSmall ? (PosteriorVariance, PosteriorLogVarianceClipped) : (_fixedLargeVariance, _fixedLargeLogVariance);
            variance = Coef(table, idx, x).expand(x.shape).contiguous();
            logVariance = Coef(logTable, idx, x).expand(x.shape).contiguous();
        }
        var predXStart = PredXStart(prediction, x, idx, clipDenoised);
        var mean = Posterior(predXStart, x, idx).Mean;
        return new PosteriorPrediction(mean.MoveToOuterDisposeScope(), variance.MoveToOuterDisposeScope(),
            logVariance.MoveToOuterDisposeScope(), predXStart.MoveToOuterDisposeScope());
    }

    /// <summary>Ancestral DDPM step: mean + exp(log_var / 2) * noise, no noise where t == 0 (p_sample).</summary>
    public StepResult PSample(Denoiser model, Tensor x, Tensor t, Tensor noise, bool clipDenoised = false)
    {
        CheckSameShape(x, noise, "noise");
        var idx = Indices(t, x);
        using var scope = NewDisposeScope();
        var p = PMeanVariance(model, x, t, clipDenoised);
        var nonzero = RowTensor(idx.Select(i => i != 0 ? 1f : 0f).ToArray(), x);
        var sample = p.Mean.Plus(nonzero * p.LogVariance.Times(0.5).exp() * noise);
        return new StepResult(sample.MoveToOuterDisposeScope(), p.PredXStart.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// DDIM step (eq. 12 of Song et al.) with stochasticity eta; noise may be null when eta is 0. The learned-sigma
    /// channels are ignored; abar, abar_prev and sigma are float32, as in the reference.
    /// </summary>
    public StepResult DdimSample(Denoiser model, Tensor x, Tensor t, Tensor? noise, double eta, bool clipDenoised = false)
    {
        if (eta < 0) throw new ArgumentOutOfRangeException(nameof(eta), eta, "DDIM eta must be >= 0.");
        if (eta != 0 && noise is null) throw new ArgumentException("DDIM with eta > 0 needs noise.", nameof(noise));
        if (noise is not null) CheckSameShape(x, noise, "noise");
        var idx = Indices(t, x);
        using var scope = NewDisposeScope();
        var predXStart = PredXStart(SplitOutput(model(x, ModelTimesteps(t)), x).Prediction, x, idx, clipDenoised);
        var eps = (Coef(SqrtRecipAlphasCumprod, idx, x) * x - predXStart) / Coef(SqrtRecipm1AlphasCumprod, idx, x);
        var xCoef = new float[idx.Length];
        var epsCoef = new float[idx.Length];
        var noiseCoef = new float[idx.Length];
        for (int r = 0; r < idx.Length; r++)
        {
            float abar = (float)AlphasCumprod[idx[r]], abarPrev = (float)AlphasCumprodPrev[idx[r]];
            float sigma = (float)eta * MathF.Sqrt((1 - abarPrev) / (1 - abar)) * MathF.Sqrt(1 - abar / abarPrev);
            xCoef[r] = MathF.Sqrt(abarPrev);
            epsCoef[r] = MathF.Sqrt(1 - abarPrev - sigma * sigma);
            noiseCoef[r] = idx[r] != 0 ? sigma : 0f;
        }
        var sample = (predXStart * RowTensor(xCoef, x)).Plus(RowTensor(epsCoef, x) * eps);
        if (noise is not null && noiseCoef.Any(c => c != 0)) sample = sample.Plus(RowTensor(noiseCoef, x) * noise);
        return new StepResult(sample.MoveToOuterDisposeScope(), predXStart.MoveToOuterDisposeScope());
    }

    /// <summary>DPM-Solver++(2M) over this process's steps (diffusers' DPMSolverMultistepScheduler; see <see cref="DiT.Diffusion.DpmSolver"/>).</summary>
    public DpmSolver DpmSolver => _dpmSolver ??= new DpmSolver(AlphasCumprod);
    DpmSolver? _dpmSolver;

    /// <summary>
    /// DPM-Solver++(2M) step from index t to t - 1 (from index 0 to sigma 0, which returns the x0 prediction). Rows
    /// below the first step (t &lt; NumTimesteps - 1) use <paramref name="previousPredXStart"/> (the x0 prediction made
    /// at t + 1) for the second-order step; rows at the first step, or all rows when it is null, take a first-order step.
    /// </summary>
    public StepResult DpmSolverPP2MStep(Denoiser model, Tensor x, Tensor t, Tensor? previousPredXStart, bool clipDenoised = false)
    {
        if (previousPredXStart is not null) CheckSameShape(x, previousPredXStart, "previous x0 prediction");
        var idx = Indices(t, x);
        using var scope = NewDisposeScope();
        var predXStart = PredXStart(SplitOutput(model(x, ModelTimesteps(t)), x).Prediction, x, idx, clipDenoised);
        var c = idx.Select(i => DpmSolver.Coefficients(i, previousPredXStart is not null)).ToArray();
        var data = predXStart * RowTensor(c.Select(k => (float)k.Current).ToArray(), x);
        if (previousPredXStart is not null && c.Any(k => k.Previous != 0))
            data = data.Plus(previousPredXStart * RowTensor(c.Select(k => (float)k.Previous).ToArray(), x));
        var sample = (RowTensor(c.Select(k => (float)k.X).ToArray(), x) * x).Plus(RowTensor(c.Select(k => (float)k.Data).ToArray(), x) * data);
        return new StepResult(sample.MoveToOuterDisposeScope(), predXStart.MoveToOuterDisposeScope());
    }

    // ---------------------------------------------------------------- helpers

    internal (Tensor Prediction, Tensor? V) SplitOutput(Tensor modelOutput, Tensor x)
    {
        long c = x.shape[1];
        long expected = Options.LearnSigma ? 2 * c : c;
        if (modelOutput.dim() != x.dim() || modelOutput.shape[0] != x.shape[0] || modelOutput.shape[1] != expected
            || !modelOutput.shape.Skip(2).SequenceEqual(x.shape.Skip(2)))
            throw new ArgumentException($"Model output has shape [{string.Join(", ", modelOutput.shape)}]; expected [{x.shape[0]}, {expected}, {string.Join(", ", x.shape.Skip(2))}] " +
                (Options.LearnSigma ? "(learned sigma: epsilon and v channels)." : "(no learned sigma)."));
        if (!Options.LearnSigma) return (modelOutput, null);
        return (modelOutput.narrow(1, 0, c), modelOutput.narrow(1, c, c));
    }

    internal Tensor PredXStart(Tensor prediction, Tensor x, long[] idx, bool clip)
    {
        var x0 = Options.PredictXStart ? prediction
            : Coef(SqrtRecipAlphasCumprod, idx, x) * x - Coef(SqrtRecipm1AlphasCumprod, idx, x) * prediction;
        return clip ? x0.Clamped(-1, 1) : x0;
    }

    /// <summary>table[t_i] rounded to float32 as a (N, 1, ..., 1) tensor on x's device (_extract_into_tensor).</summary>
    internal static Tensor Coef(double[] table, long[] idx, Tensor like) => RowTensor(idx.Select(i => (float)table[i]).ToArray(), like);

    internal static Tensor RowTensor(float[] values, Tensor like)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = values.Length;
        return tensor(values, ScalarType.Float32, like.device).reshape(shape);
    }

    /// <summary>t (N) as host indices, checked against the process length and x's batch size.</summary>
    internal long[] Indices(Tensor t, Tensor? x)
    {
        if (t.dim() != 1) throw new ArgumentException($"Timesteps must be a 1-D tensor (N), got shape [{string.Join(", ", t.shape)}].");
        if (x is not null && t.shape[0] != x.shape[0]) throw new ArgumentException($"Timesteps hold {t.shape[0]} entries for a batch of {x.shape[0]}.");
        if (t.dtype != ScalarType.Int64 && t.dtype != ScalarType.Int32) throw new ArgumentException($"Timesteps must be int64, got {t.dtype}.");
        using var scope = NewDisposeScope(); // frees the host copy, never the caller's t
        var idx = t.to(ScalarType.Int64).cpu().data<long>().ToArray();
        foreach (var i in idx)
            if (i < 0 || i >= NumTimesteps) throw new ArgumentOutOfRangeException(nameof(t), i, $"Timestep index must be in [0, {NumTimesteps}).");
        return idx;
    }

    static void CheckSameShape(Tensor a, Tensor b, string what)
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"{what} has shape [{string.Join(", ", b.shape)}], expected [{string.Join(", ", a.shape)}].");
    }
}
