using static TorchSharp.torch;

namespace DiT.Model.StepCaching;

/// <summary>
/// FORA (Selvaraju et al. 2024), static: the stack runs at this row's calls 0, N, 2N, ... and the residual of the
/// last full pass is reused in between. Counted per slot, so a branch that skips some steps (a guidance interval)
/// keeps its own rhythm.
/// </summary>
class ForaSlot(int interval) : StepCacheSlot
{
    /// <summary>Calls since the last full pass (0 at a full pass).</summary>
    protected int SinceFull { get; private set; }

    protected override bool Decide(Tensor? probe)
    {
        if (HasResidual && ++SinceFull < interval) return false;
        SinceFull = 0;
        return true;
    }
}

/// <summary>
/// TaylorSeer (Liu et al. 2025) at first order: full passes as FORA, and at a skipped call k calls after the last full
/// pass the residual is R + k (R - R_prev) / N, extrapolated from the last two full passes (N calls apart).
/// Zeroth order (FORA) until a second full pass exists.
/// </summary>
sealed class TaylorSeerSlot(int interval) : ForaSlot(interval)
{
    readonly int _interval = interval;
    Tensor? _slope; // (1, T, D) residual change per call between the last two full passes

    protected override void OnRefresh(Tensor? previous, Tensor current)
    {
        using var scope = NewDisposeScope();
        Keep(ref _slope, previous is null ? null : (current - previous).DividedBy(_interval));     // (1, T, D)
    }

    internal override Tensor EstimateResidual()
    {
        var residual = base.EstimateResidual();                                           // (1, T, D)
        return _slope is null ? residual : residual.PlusScaled(_slope, SinceFull);         // R + k * slope
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Keep(ref _slope, null);
        base.Dispose(disposing);
    }
}
