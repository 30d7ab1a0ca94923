using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion;

/// <summary>One row of guided sampling: every noise draw of the row comes from a generator seeded with Seed; a scale of
/// 1 is no guidance; a null interval guides at every step.</summary>
public sealed record GuidedRow(long Seed, long ClassId, double GuidanceScale, GuidanceInterval? Interval = null);

/// <summary>How guidance meets the model: the null class, the latent channels and which channels are guided.</summary>
public sealed record GuidanceSetup(long NullClass, int InChannels, GuidanceMode Mode);

/// <summary>The model as a guided batch calls it: also told the caller's state of each row, in the batch's order
/// (for what lives per row across steps, such as step caches).</summary>
public delegate Tensor GuidedRowsModel<TState>(Tensor x, Tensor t, Tensor y, GuidedBatchLayout layout, IReadOnlyList<TState> rows);

/// <summary>
/// Classifier-free guided sampling of rows that each carry their own seed, class, scale, interval and step: the one
/// sampling path of the service's whole and continuous batching and of dit eval. Rows join at their first step and
/// leave after their last (or between steps). A row draws its starting noise and every step's noise from its own
/// generator, in the order it would alone, so a seed gives the same sample whichever rows share its steps. Classes,
/// scales and intervals stay on the host. Tensors kept between steps live outside any dispose scope; this class
/// disposes them. One thread only (TorchSharp's dispose scopes are thread-static).
/// </summary>
public sealed class GuidedBatch<TState> : IDisposable
{
    readonly GuidedRowsModel<TState> _model;
    readonly Sampler _sampler;
    readonly GuidanceSetup _guidance;
    readonly long[] _rowShape;
    readonly Device _device;
    readonly ScalarType _modelDtype, _trajectoryDtype;
    readonly List<Row> _rows = [];
    Tensor? _x;             // (N, ...rowShape) in the trajectory dtype
    Tensor? _previousX0;    // (N, ...rowShape) the last x0 prediction (DPM-Solver++ only); zeros for rows that have not stepped
    Denoiser? _denoiser;    // rebuilt when rows change

    sealed record Row(GuidedRow Spec, TState State, Generator Generator)
    {
        public int Step { get; set; }
    }

    /// <param name="rowShape">One row's sample shape, e.g. (C, H, W).</param>
    /// <param name="modelDtype">The model's dtype: starting noise is drawn in float32 on the CPU and cast to it.</param>
    public GuidedBatch(GuidedRowsModel<TState> model, Sampler sampler, GuidanceSetup guidance, long[] rowShape, Device device, ScalarType modelDtype)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(guidance);
        (_model, _sampler, _guidance, _rowShape, _device, _modelDtype) = (model, sampler, guidance, rowShape, device, modelDtype);
        _trajectoryDtype = Trajectory.DtypeFor(modelDtype);
    }

    public int Count => _rows.Count;
    public int Steps => _sampler.Steps;

    /// <summary>The callers' row states, in the batch's order.</summary>
    public IReadOnlyList<TState> States => _rows.Select(r => r.State).ToArray();

    bool KeepsPreviousX0 => _sampler.Settings.Kind == SamplerKind.DpmSolverPP2M;

    /// <summary>Adds a row at its first step, drawing its starting noise from its own seed.</summary>
    public void Join(GuidedRow spec, TState state)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var generator = new Generator(unchecked((ulong)spec.Seed), CPU);
        using (var scope = NewDisposeScope())
        {
            var noise = Sampling.PerSampleNoise([generator], _rowShape, _device, _modelDtype).to(_trajectoryDtype); // (1, ...)
            Replace(ref _x, _x is null ? noise : cat([_x, noise], 0));                                               // (N + 1, ...)
            if (_previousX0 is not null) Replace(ref _previousX0, cat([_previousX0, zeros_like(noise)], 0));
        }
        _rows.Add(new Row(spec, state, generator));
        _denoiser = null;
    }

    /// <summary>Drops the first row whose state is <paramref name="state"/>; the others are untouched.</summary>
    public bool Leave(TState state)
    {
        int index = _rows.FindIndex(r => EqualityComparer<TState>.Default.Equals(r.State, state));
        if (index < 0) return false;
        _rows[index].Generator.Dispose();
        _rows.RemoveAt(index);
        Keep(Enumerable.Range(0, _rows.Count + 1).Where(i => i != index).ToArray());
        _denoiser = null;
        return true;
    }

    /// <summary>
    /// Advances every row by one step. Rows that took their last step leave: their states, in the batch's order, and
    /// their samples (F, ...rowShape) in the model's dtype, in the caller's dispose scope; null when none finished.
    /// </summary>
    public (IReadOnlyList<TState> States, Tensor? Samples) Step()
    {
        if (_rows.Count == 0) return ([], null);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _denoiser ??= Guided();
        var t = tensor(_rows.Select(r => _sampler.IndexOfStep(r.Step)).ToArray(), ScalarType.Int64, _device); // (N)
        // Only samplers that use noise draw it (DDIM with eta 0 does not): a row's generator serves no one else, so
        // skipping unused draws leaves its sample unchanged.
        var noise = _sampler.Settings.UsesNoise ? Sampling.PerSampleNoise(_rows.Select(r => r.Generator).ToArray(), _x!) : null;
        var result = _sampler.Step(_denoiser, _x!, t, noise, _previousX0);
        foreach (var row in _rows) row.Step++;
        Replace(ref _x, result.Sample);
        if (KeepsPreviousX0) Replace(ref _previousX0, result.PredXStart);

        var done = Enumerable.Range(0, _rows.Count).Where(i => _rows[i].Step >= _sampler.Steps).ToArray();
        if (done.Length == 0) return ([], null);
        var samples = _x!.index_select(0, tensor(done.Select(i => (long)i).ToArray(), ScalarType.Int64, _device)).to(_modelDtype);
        var states = done.Select(i => _rows[i].State).ToArray();
        foreach (var i in done) _rows[i].Generator.Dispose();
        Keep(Enumerable.Range(0, _rows.Count).Except(done).ToArray());
        _rows.RemoveAll(r => r.Step >= _sampler.Steps);
        _denoiser = null;
        return (states, samples.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Whole batching, which is continuous batching with admissions closed: steps until every row has finished and
    /// returns their samples (N, ...rowShape) in the order they joined. Cancellation is checked before each step;
    /// onStep gets (steps done, steps).
    /// </summary>
    public Tensor SampleToEnd(CancellationToken ct = default, Action<int, int>? onStep = null)
    {
        if (_rows.Any(r => r.Step != 0)) throw new InvalidOperationException("Every row must be at its first step.");
        if (_rows.Count == 0) throw new InvalidOperationException("No rows to sample.");
        for (int k = 0; k < _sampler.Steps; k++)
        {
            ct.ThrowIfCancellationRequested();
            var (_, samples) = Step();
            onStep?.Invoke(k + 1, _sampler.Steps);
            if (samples is not null) return samples; // every row finishes at the last step, together, in join order
        }
        throw new InvalidOperationException("The rows did not finish in the sampler's steps.");
    }

    /// <summary>The model under guidance for the current rows; each row's branches see its state.</summary>
    Denoiser Guided()
    {
        var states = States;
        var guided = ClassifierFreeGuidance.Wrap((x, t, y, layout) => _model(x, t, y, layout, states),
            _rows.Select(r => r.Spec.ClassId).ToArray(), _rows.Select(r => (float)r.Spec.GuidanceScale).ToArray(),
            _guidance.NullClass, _guidance.InChannels, _guidance.Mode,
            new GuidanceIntervals(_rows.Select(r => r.Spec.Interval), _sampler.Diffusion.Options));
        return Trajectory.ForModelDtype(guided, _modelDtype);
    }

    /// <summary>Keeps only the given rows of the per-row tensors (indices into the current rows).</summary>
    void Keep(int[] rows)
    {
        using var scope = NewDisposeScope();
        if (rows.Length == 0)
        {
            Replace(ref _x, null);
            Replace(ref _previousX0, null);
            return;
        }
        var index = tensor(rows.Select(i => (long)i).ToArray(), ScalarType.Int64, _device);
        Replace(ref _x, _x!.index_select(0, index));
        if (_previousX0 is not null) Replace(ref _previousX0, _previousX0.index_select(0, index));
    }

    /// <summary>Stores <paramref name="next"/> (taken out of the current dispose scope) and disposes what it replaces.</summary>
    static void Replace(ref Tensor? field, Tensor? next)
    {
        if (ReferenceEquals(field, next)) return;
        field?.Dispose();
        field = next?.DetachFromDisposeScope();
    }

    public void Dispose()
    {
        foreach (var row in _rows) row.Generator.Dispose();
        _rows.Clear();
        Replace(ref _x, null);
        Replace(ref _previousX0, null);
        _denoiser = null;
    }
}
