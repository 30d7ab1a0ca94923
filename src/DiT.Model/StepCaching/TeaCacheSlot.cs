using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.StepCaching;

/// <summary>
/// TeaCache (Liu et al. 2024), adaptive: block 0's modulated input (the noisy tokens normalised and modulated by the
/// timestep and class) is a cheap indicator of how much the stack's output will change. Each call adds its relative L1
/// change since this row's previous call, mean|p - p_prev| / mean|p_prev|, to an accumulator; while the sum stays below
/// the threshold the last residual is reused, otherwise the stack runs and the sum restarts. (The paper rescales the
/// change with a polynomial fitted per model; none is fitted here, so thresholds are on the raw change.)
/// </summary>
sealed class TeaCacheSlot(double threshold) : StepCacheSlot
{
    Tensor? _previousProbe; // (1, T, D)
    double _accumulated;

    internal override bool WantsProbe => true;

    protected override bool Decide(Tensor? probe)
    {
        ArgumentNullException.ThrowIfNull(probe);
        bool full = true;
        if (HasResidual && _previousProbe is not null)
        {
            _accumulated += RelativeL1(probe, _previousProbe);
            full = _accumulated >= threshold;
        }
        if (full) _accumulated = 0;
        Keep(ref _previousProbe, probe);
        return full;
    }

    static double RelativeL1(Tensor current, Tensor previous)
    {
        using var scope = NewDisposeScope();
        return (current - previous).abs().sum().ToDouble() / previous.abs().sum().ToDouble();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Keep(ref _previousProbe, null);
        base.Dispose(disposing);
    }
}
