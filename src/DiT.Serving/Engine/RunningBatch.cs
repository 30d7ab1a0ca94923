using DiT.Diffusion;
using DiT.Model;
using DiT.Model.StepCaching;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Serving.Engine;

/// <summary>
/// Continuous batching's tensors for one sampler and step count: the trajectory x (one row per request, each at its
/// own step), the previous x0 prediction for DPM-Solver++, and per-row generators, classes, guidance scales, intervals
/// and step caches.
/// A row draws its starting noise and every step's noise from its own generator, in the order it would alone, so a
/// seed gives the same image whoever shares the steps. Tensors kept between steps live outside any dispose scope
/// and are disposed here when replaced.
/// </summary>
sealed class RunningBatch : IRunningBatch
{
    readonly DiTModel _model;
    readonly IAutoencoder _autoencoder;
    readonly Sampler _sampler;
    readonly GuidanceMode _guidance;
    readonly Device _device;
    readonly ScalarType _dtype, _trajectoryDtype;
    readonly List<Row> _rows = [];
    Tensor? _x;             // (N, C, H, W) in the trajectory dtype (float32 for half-precision models, as Sampling.Sample)
    Tensor? _previousX0;    // (N, C, H, W) the last x0 prediction (DPM-Solver++ only); zeros for rows that have not stepped
    Tensor? _classes, _scales; // (N) each; rebuilt when rows change, as the guidance wrapper reads them on every call
    Denoiser? _denoiser;

    sealed record Row(long Id, GenerationRequest Request, Generator Generator, RowStepCache Cache)
    {
        public int Step { get; set; }
    }

    public RunningBatch(DiTModel model, IAutoencoder autoencoder, Sampler sampler, GuidanceMode guidance, Device device, ScalarType dtype)
    {
        (_model, _autoencoder, _sampler, _guidance, _device, _dtype) = (model, autoencoder, sampler, guidance, device, dtype);
        _trajectoryDtype = dtype is ScalarType.Float16 or ScalarType.BFloat16 ? ScalarType.Float32 : dtype;
    }

    public int Count => _rows.Count;

    bool KeepsPreviousX0 => _sampler.Settings.Kind == SamplerKind.DpmSolverPP2M;

    public void Join(long id, GenerationRequest request)
    {
        var config = _model.Config;
        var generator = new Generator(unchecked((ulong)request.Seed), CPU);
        using (var scope = NewDisposeScope())
        {
            // As DiTPipeline.Run: drawn in float32 on the CPU, cast to the model dtype, then to the trajectory dtype.
            var noise = Sampling.PerSampleNoise([generator], [config.InChannels, config.InputSize, config.InputSize], _device, _dtype)
                .to(_trajectoryDtype);                                                    // (1, C, H, W)
            Replace(ref _x, _x is null ? noise : cat([_x, noise], 0));                    // (N + 1, C, H, W)
            if (_previousX0 is not null) Replace(ref _previousX0, cat([_previousX0, zeros_like(noise)], 0));
        }
        _rows.Add(new Row(id, request, generator, new RowStepCache(request.Cache)));
        RowsChanged();
    }

    public void Leave(long id)
    {
        int index = _rows.FindIndex(r => r.Id == id);
        if (index < 0) return;
        Release(_rows[index]);
        _rows.RemoveAt(index);
        Keep(Enumerable.Range(0, _rows.Count + 1).Where(i => i != index).ToArray());
        RowsChanged();
    }

    public IReadOnlyList<FinishedRow> Step()
    {
        if (_rows.Count == 0) return [];
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var t = tensor(_rows.Select(r => _sampler.IndexOfStep(r.Step)).ToArray(), ScalarType.Int64, _device); // (N)
        // Only samplers that use noise draw it (DDIM with eta 0 does not): a row's generator serves no one else, so
        // skipping unused draws leaves its image unchanged.
        var noise = _sampler.Settings.UsesNoise ? Sampling.PerSampleNoise(_rows.Select(r => r.Generator).ToArray(), _x!) : null;
        var result = _sampler.Step(_denoiser!, _x!, t, noise, _previousX0);
        foreach (var row in _rows) row.Step++;
        Replace(ref _x, result.Sample);
        if (KeepsPreviousX0) Replace(ref _previousX0, result.PredXStart);

        var done = Enumerable.Range(0, _rows.Count).Where(i => _rows[i].Step >= _sampler.Steps).ToArray();
        if (done.Length == 0) return [];
        var latents = _x!.index_select(0, tensor(done.Select(i => (long)i).ToArray(), ScalarType.Int64, _device)); // (F, C, H, W)
        var images = DiTPipeline.Decode(_autoencoder, _trajectoryDtype == _dtype ? latents : latents.to(_dtype));
        var finished = done.Select((row, i) => new FinishedRow(_rows[row].Id, images[i] with { Passes = _rows[row].Cache.Passes })).ToArray();
        foreach (var i in done) Release(_rows[i]);
        Keep(Enumerable.Range(0, _rows.Count).Except(done).ToArray());
        _rows.RemoveAll(r => r.Step >= _sampler.Steps);
        RowsChanged();
        return finished;
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

    void RowsChanged()
    {
        _classes?.Dispose();
        _scales?.Dispose();
        (_classes, _scales, _denoiser) = (null, null, null);
        if (_rows.Count == 0) return;
        _classes = tensor(_rows.Select(r => (long)r.Request.ClassId).ToArray(), ScalarType.Int64, _device).DetachFromDisposeScope();
        _scales = tensor(_rows.Select(r => (float)r.Request.GuidanceScale).ToArray(), ScalarType.Float32, _device).DetachFromDisposeScope();
        _denoiser = DiTPipeline.Guided(_model, _classes, _scales, _guidance, _rows.Select(r => r.Request), [.. _rows.Select(r => r.Cache)],
            _sampler.Diffusion.Options);
        if (_trajectoryDtype != _dtype)
        {
            var inner = _denoiser;
            var modelDtype = _dtype;
            _denoiser = (x, t) => inner(x.to(modelDtype), t).to(ScalarType.Float32);
        }
    }

    /// <summary>A row leaves: its generator and step caches go with it.</summary>
    static void Release(Row row)
    {
        row.Generator.Dispose();
        row.Cache.Dispose();
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
        foreach (var row in _rows) Release(row);
        _rows.Clear();
        Replace(ref _x, null);
        Replace(ref _previousX0, null);
        RowsChanged();
    }
}
