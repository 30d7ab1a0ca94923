using System.Globalization;

namespace DiT.Model.StepCaching;

/// <summary>Which scheme decides when a row reuses the transformer stack's work instead of running it.</summary>
public enum StepCacheMode { Off, Fora, TeaCache, TaylorSeer }

/// <summary>
/// How one request reuses work across denoising steps. Wire form (the /generate <c>cache</c> field, <c>dit eval</c>
/// settings): <c>off</c>; <c>fora:N</c> runs the blocks at every N-th step and reuses the last residual in between
/// (FORA); <c>taylor:N</c> the same, with the residual extrapolated linearly from the last two full passes
/// (first-order TaylorSeer); <c>teacache:T</c> skips the blocks while the accumulated relative L1 change of block 0's
/// modulated input since the last full pass stays below T (TeaCache).
/// </summary>
public sealed record StepCacheSettings(StepCacheMode Mode, int Interval = 1, double Threshold = 0)
{
    public const int MaxInterval = 20;
    public const double MaxThreshold = 2;

    /// <summary>What a setting may be, for error messages.</summary>
    public static readonly string Allowed = string.Create(CultureInfo.InvariantCulture,
        $"off, fora:N or taylor:N (N = 1..{MaxInterval}: run the blocks every N-th step) or teacache:T (T = 0..{MaxThreshold}: skip while the accumulated relative change stays below T)");

    public static readonly StepCacheSettings Off = new(StepCacheMode.Off);

    public bool IsOff => Mode == StepCacheMode.Off;

    /// <summary>Parses the wire form (case-insensitive); false on anything else or out of range.</summary>
    public static bool TryParse(string? text, out StepCacheSettings settings)
    {
        settings = Off;
        var parts = (text ?? "").Trim().ToLowerInvariant().Split(':');
        switch (parts)
        {
            case ["off"]:
                return true;
            case ["fora" or "taylor", var n] when int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var interval)
                                                   && interval is >= 1 and <= MaxInterval:
                settings = new(parts[0] == "fora" ? StepCacheMode.Fora : StepCacheMode.TaylorSeer, Interval: interval);
                return true;
            case ["teacache", var t] when double.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var threshold)
                                          && threshold is >= 0 and <= MaxThreshold:
                settings = new(StepCacheMode.TeaCache, Threshold: threshold);
                return true;
            default:
                return false;
        }
    }

    public static StepCacheSettings Parse(string text) =>
        TryParse(text, out var settings) ? settings : throw new ArgumentException($"'{text}' is not a step cache setting: allowed {Allowed}.", nameof(text));

    /// <summary>The wire form; parses back to an equal setting.</summary>
    public override string ToString() => Mode switch
    {
        StepCacheMode.Fora => string.Create(CultureInfo.InvariantCulture, $"fora:{Interval}"),
        StepCacheMode.TaylorSeer => string.Create(CultureInfo.InvariantCulture, $"taylor:{Interval}"),
        StepCacheMode.TeaCache => string.Create(CultureInfo.InvariantCulture, $"teacache:{Threshold:R}"),
        _ => "off",
    };
}
