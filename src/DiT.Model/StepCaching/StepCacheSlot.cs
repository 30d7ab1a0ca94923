using static TorchSharp.torch;

namespace DiT.Model.StepCaching;

/// <summary>
/// The step cache of one row of the model batch (one guidance branch of one request). At each of its model calls it
/// decides whether the transformer stack runs or its residual (stack output - input) is estimated from earlier full
/// passes. Every decision reads this row's own values only, so it does not depend on which rows share the batch.
/// Its tensors live outside any dispose scope until <see cref="Dispose"/>.
/// </summary>
public abstract class StepCacheSlot : IDisposable
{
    Tensor? _residual; // (1, T, D) at the last full pass

    public ModelPasses Passes { get; private set; }

    public static StepCacheSlot Create(StepCacheSettings settings) => settings.Mode switch
    {
        StepCacheMode.Off => new UncachedSlot(),
        StepCacheMode.Fora => new ForaSlot(settings.Interval),
        StepCacheMode.TaylorSeer => new TaylorSeerSlot(settings.Interval),
        StepCacheMode.TeaCache => new TeaCacheSlot(settings.Threshold),
        _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Mode, "Unknown step cache mode."),
    };

    /// <summary>False when the slot always runs in full (then the plain forward serves it, bit for bit).</summary>
    internal virtual bool Reuses => true;

    /// <summary>True when <see cref="Decide"/> reads block 0's modulated input.</summary>
    internal virtual bool WantsProbe => false;

    protected bool HasResidual => _residual is not null;

    /// <summary>Once per model call of this row: true to run the stack (then <see cref="Refresh"/> follows).</summary>
    internal bool BeginPass(Tensor? probe)
    {
        bool full = Decide(probe);
        Passes += full ? new ModelPasses(1, 0) : new ModelPasses(0, 1);
        return full;
    }

    /// <summary>probe: block 0's modulated input of this row (1, T, D) when <see cref="WantsProbe"/>, else null.
    /// Must be true while there is no residual yet.</summary>
    protected abstract bool Decide(Tensor? probe);

    /// <summary>After a full pass: the stack's residual of this row (1, T, D), copied.</summary>
    internal virtual void Refresh(Tensor residual)
    {
        OnRefresh(_residual, residual);
        Keep(ref _residual, residual);
    }

    /// <summary>A full pass's new residual against the previous one (null at the first), before it is replaced.</summary>
    protected virtual void OnRefresh(Tensor? previous, Tensor current) { }

    /// <summary>The residual to add to this row's input at a skipped pass (1, T, D), in the caller's dispose scope.</summary>
    internal virtual Tensor EstimateResidual() => _residual!.alias();

    /// <summary>Stores a copy of <paramref name="value"/> (never a view that would keep a whole batch alive) and
    /// disposes what it replaces.</summary>
    protected static void Keep(ref Tensor? field, Tensor? value)
    {
        field?.Dispose();
        field = value?.clone().DetachFromDisposeScope();
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing) Keep(ref _residual, null);
    }
}

/// <summary>No caching: every call runs the stack, nothing is kept.</summary>
sealed class UncachedSlot : StepCacheSlot
{
    internal override bool Reuses => false;

    protected override bool Decide(Tensor? probe) => true;

    internal override void Refresh(Tensor residual) { }
}
