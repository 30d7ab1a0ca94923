namespace DiT.Diffusion;

/// <summary>Named beta schedules over the base steps, in double precision (get_named_beta_schedule).</summary>
public static class BetaSchedules
{
    public static double[] Named(string name, int steps) => name switch
    {
        "linear" => Linear(steps),
        "cosine" or "squaredcos_cap_v2" => Cosine(steps),
        _ => throw new ArgumentException($"Unknown noise schedule '{name}'; allowed: linear, cosine."),
    };

    /// <summary>Ho et al.'s 1e-4..0.02 over 1000 steps, scaled to keep the same shape for other step counts.</summary>
    public static double[] Linear(int steps)
    {
        double scale = 1000.0 / steps, start = scale * 0.0001, end = scale * 0.02;
        return LinSpace(start, end, steps);
    }

    /// <summary>Nichol and Dhariwal's cosine alpha-bar, discretised with betas capped at 0.999.</summary>
    public static double[] Cosine(int steps, double maxBeta = 0.999)
    {
        static double AlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
        return Enumerable.Range(0, steps)
            .Select(i => Math.Min(1 - AlphaBar((i + 1) / (double)steps) / AlphaBar(i / (double)steps), maxBeta))
            .ToArray();
    }

    /// <summary>numpy.linspace: start + i*step with the last value set to stop exactly.</summary>
    static double[] LinSpace(double start, double stop, int num)
    {
        var y = new double[num];
        double step = num > 1 ? (stop - start) / (num - 1) : 0;
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        if (num > 1) y[^1] = stop;
        return y;
    }
}
