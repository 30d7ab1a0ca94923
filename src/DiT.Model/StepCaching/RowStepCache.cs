namespace DiT.Model.StepCaching;

/// <summary>
/// One request's step caches. Under classifier-free guidance its conditional and unconditional passes are two rows
/// of the model batch with different inputs, so each branch keeps its own slot (a branch that skips some steps, as
/// under a guidance interval, simply has fewer calls). Dispose when the request leaves.
/// </summary>
public sealed class RowStepCache(StepCacheSettings settings) : IDisposable
{
    public StepCacheSettings Settings { get; } = settings;
    public StepCacheSlot Conditional { get; } = StepCacheSlot.Create(settings);
    public StepCacheSlot Unconditional { get; } = StepCacheSlot.Create(settings);

    /// <summary>Both branches' model calls so far.</summary>
    public ModelPasses Passes => Conditional.Passes + Unconditional.Passes;

    /// <summary>
    /// The slot of every row of a guided model batch laid out as classifier-free guidance builds it: rows [0, N) the
    /// conditional branches of <paramref name="rows"/>, then the unconditional branch of rows[i] for each i in
    /// <paramref name="unconditionalOf"/>.
    /// </summary>
    public static StepCacheSlot[] SlotsOf(IReadOnlyList<RowStepCache> rows, IEnumerable<long> unconditionalOf) =>
        [.. rows.Select(r => r.Conditional), .. unconditionalOf.Select(i => rows[checked((int)i)].Unconditional)];

    public void Dispose()
    {
        Conditional.Dispose();
        Unconditional.Dispose();
    }
}
