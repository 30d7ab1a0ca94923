using System.Globalization;

namespace DiT.Diffusion;

/// <summary>
/// Classifier-free guidance applied only while the noise level lies in [Low, High] (Kynkäänniemi et al. 2024,
/// "Applying guidance in a limited interval improves sample and distribution quality"); outside it a row is the plain
/// conditional output and its unconditional pass is skipped. The unit is sigma = sqrt((1 - abar_t) / abar_t), the
/// noise-to-signal ratio of x_t: the paper's unit (EDM's sigma) and the sigmas of DPM-Solver++, so an interval means
/// the same noise levels for every sampler, step count and respacing (a timestep range would not carry over to another
/// schedule). DiT's linear schedule spans sigma 0.01 (t = 0) to 157 (t = 999).
/// </summary>
public sealed record GuidanceInterval
{
    /// <summary>What a valid interval is, for error messages.</summary>
    public const string Rule = "two noise levels [low, high] with 0 <= low < high, sigma = sqrt((1 - alpha_bar) / alpha_bar)";

    public GuidanceInterval(double low, double high)
    {
        if (!IsValid(low, high)) throw new ArgumentOutOfRangeException(nameof(low), $"[{low}, {high}] is not a guidance interval: {Rule}.");
        (Low, High) = (low, high);
    }

    public double Low { get; }
    public double High { get; }

    public static bool IsValid(double low, double high) => double.IsFinite(low) && double.IsFinite(high) && low >= 0 && high > low;

    public bool Contains(double sigma) => sigma >= Low && sigma <= High;

    /// <summary>Parses "LOW-HIGH" (e.g. "0.3-5", invariant culture); null when it is not a valid interval.</summary>
    public static GuidanceInterval? TryParse(string? text)
    {
        var bounds = (text ?? "").Split('-');
        return bounds.Length == 2 && double.TryParse(bounds[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var low)
            && double.TryParse(bounds[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var high) && IsValid(low, high)
            ? new GuidanceInterval(low, high) : null;
    }

    /// <summary>sigma = sqrt((1 - abar) / abar) at each ORIGINAL timestep of the base (unrespaced) schedule.</summary>
    public static double[] NoiseLevels(DiffusionOptions diffusion)
    {
        ArgumentNullException.ThrowIfNull(diffusion);
        double cumprod = 1;
        return BetaSchedules.Named(diffusion.Schedule, diffusion.Steps).Select(b => { cumprod *= 1 - b; return Math.Sqrt((1 - cumprod) / cumprod); }).ToArray();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{Low:0.###}, {High:0.###}]");
}

/// <summary>Per-row guidance intervals of a batch: whether row i is guided at ORIGINAL timestep t (null interval: always).</summary>
public sealed class GuidanceIntervals
{
    readonly GuidanceInterval?[] _rows;
    readonly double[] _noiseLevels;

    public GuidanceIntervals(IEnumerable<GuidanceInterval?> rows, DiffusionOptions diffusion)
    {
        ArgumentNullException.ThrowIfNull(rows);
        _rows = rows.ToArray();
        _noiseLevels = GuidanceInterval.NoiseLevels(diffusion);
    }

    public int Count => _rows.Length;

    /// <summary>True when no row has an interval (every row is guided at every step).</summary>
    public bool IsEmpty => _rows.All(r => r is null);

    public bool Guides(int row, long t) => _rows[row] is not { } interval || interval.Contains(_noiseLevels[t]);
}
