namespace DiT.Diffusion;

/// <summary>
/// DPM-Solver++(2M) per-row coefficients on a discrete alpha-bar schedule, with lambda = log(alpha / sigma),
/// alpha = sqrt(abar), sigma = sqrt(1 - abar). A step from index i to i - 1 is
/// x' = (sigma'/sigma) x + alpha' (1 - e^-h) D, with D = (1 + 1/2r) x0_i - (1/2r) x0_{i+1}, h = lambda' - lambda,
/// r = h_prev / h; D = x0_i for the first step and the step into index 0; the last step (i == 0) returns x0_0.
/// </summary>
public static class DpmSolver
{
    /// <summary>x' = X*x + Data*(Current*x0 + Previous*x0_prev).</summary>
    public readonly record struct StepCoefficients(double X, double Data, double Current, double Previous);

    public static StepCoefficients Coefficients(double[] alphasCumprod, long i, bool hasPrevious)
    {
        if (i == 0) return new(0, 1, 1, 0);
        double abar = alphasCumprod[i], abarNext = alphasCumprod[i - 1];
        double h = Lambda(abarNext) - Lambda(abar);
        double x = Math.Sqrt(1 - abarNext) / Math.Sqrt(1 - abar);
        double data = Math.Sqrt(abarNext) * (1 - Math.Exp(-h));
        // First order on the first step (no history) and into index 0, where lambda jumps so far that the
        // multistep extrapolation overshoots (diffusers' lower_order_final; measured on Gaussian data in the tests).
        if (!hasPrevious || i + 1 >= alphasCumprod.Length || i == 1) return new(x, data, 1, 0);
        double r = (Lambda(abar) - Lambda(alphasCumprod[i + 1])) / h;
        return new(x, data, 1 + 1 / (2 * r), -1 / (2 * r));
    }

    static double Lambda(double abar) => 0.5 * (Math.Log(abar) - Math.Log(1 - abar));
}
