namespace DiT.Diffusion;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022) as diffusers' DPMSolverMultistepScheduler computes it (algorithm dpmsolver++,
/// order 2, midpoint, lower_order_final, final_sigmas_type "zero"), over the steps of a (respaced) process: process
/// index i is the model timestep TimestepMap[i]; a step goes from index i to i - 1, and from index 0 to sigma = 0.
/// Noise levels are kept in float32 as diffusers keeps them: sigma = sqrt((1 - abar) / abar), alpha_t = 1 / sqrt(1 + sigma^2),
/// sigma_t = sigma alpha_t, lambda = log(alpha_t) - log(sigma_t). With h = lambda' - lambda and x0 the data prediction,
/// x' = (sigma_t' / sigma_t) x + alpha_t' (1 - e^-h) D: first order D = x0_i; second order (midpoint)
/// D = x0_i + (x0_i - x0_{i+1}) / 2r, r = h_prev / h. First order at a row's first step (no history) and at the
/// last step, which goes to sigma 0 (h = +inf) and so returns x0_0 exactly.
/// </summary>
public sealed class DpmSolver
{
    /// <summary>x' = X*x + Data*(Current*x0 + Previous*x0_prev), from a step of the given order.</summary>
    public readonly record struct StepCoefficients(double X, double Data, double Current, double Previous, int Order);

    readonly float[] _sigma, _alphaT, _sigmaT, _lambda; // per process index i (ascending noise)

    /// <param name="alphasCumprod">The process's alpha-bar per index (double, as GaussianDiffusion keeps it).</param>
    public DpmSolver(double[] alphasCumprod)
    {
        ArgumentNullException.ThrowIfNull(alphasCumprod);
        _sigma = alphasCumprod.Select(a => (float)Math.Sqrt((1 - a) / a)).ToArray();
        _alphaT = _sigma.Select(s => (float)(1 / Math.Sqrt(1 + (double)s * s))).ToArray();
        _sigmaT = _sigma.Select((s, i) => (float)((double)s * _alphaT[i])).ToArray();
        _lambda = _alphaT.Select((a, i) => (float)(Math.Log(a) - Math.Log(_sigmaT[i]))).ToArray();
    }

    public int Steps => _sigma.Length;

    /// <summary>diffusers' scheduler.sigmas: step k = 0..N-1 (k = 0 the noisiest) at index N-1-k, then the final 0.</summary>
    public float[] Sigmas => [.. _sigma.Reverse(), 0f];

    /// <summary>alpha_t per step k = 0..N (1 at the final sigma 0).</summary>
    public float[] AlphaT => [.. _alphaT.Reverse(), 1f];

    /// <summary>sigma_t per step k = 0..N (0 at the final sigma 0).</summary>
    public float[] SigmaT => [.. _sigmaT.Reverse(), 0f];

    /// <summary>lambda per step k = 0..N-1 (the final one is +infinity).</summary>
    public float[] Lambda => [.. _lambda.Reverse()];

    /// <summary>The coefficients of the step from index i; hasPrevious: the row's x0 prediction from index i + 1 is given.</summary>
    public StepCoefficients Coefficients(long i, bool hasPrevious)
    {
        if (i < 0 || i >= Steps) throw new ArgumentOutOfRangeException(nameof(i), i, $"Index must be in [0, {Steps}).");
        if (i == 0) return new(0, 1, 1, 0, 1);                                   // to sigma 0: x' = x0
        long next = i - 1;
        double h = (double)_lambda[next] - _lambda[i];
        double x = (double)_sigmaT[next] / _sigmaT[i];
        double data = _alphaT[next] * (1 - Math.Exp(-h));
        if (!hasPrevious || i + 1 >= Steps) return new(x, data, 1, 0, 1);
        double r = ((double)_lambda[i] - _lambda[i + 1]) / h;
        return new(x, data, 1 + 1 / (2 * r), -1 / (2 * r), 2);
    }
}
