using DiT.Diffusion;
using DiT.Model;
using DiT.Model.StepCaching;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Serving.Engine;

/// <summary>
/// The sampling loop's rows of one sampler and step count (both kinds of batching): the served DiT's requests as rows of a
/// <see cref="GuidedBatch{TState}"/> (which keeps the trajectory, each row's seed, class, scale, interval and step),
/// each row with its step caches, decoded as it finishes.
/// </summary>
public sealed class RunningBatch : IRunningBatch
{
    readonly IAutoencoder _autoencoder;
    readonly GuidedBatch<Row> _rows;

    /// <summary>What the engine knows of a row: its id, and the step caches of its two branches.</summary>
    sealed record Row(long Id, RowStepCache Cache);

    public RunningBatch(DiTModel model, IAutoencoder autoencoder, Sampler sampler, GuidanceMode guidance, Device device, ScalarType dtype)
    {
        _autoencoder = autoencoder;
        var config = model.Config;
        _rows = new GuidedBatch<Row>(
            (x, t, y, layout, rows) => model.Forward(x, t, y, RowStepCache.SlotsOf(rows.Select(r => r.Cache).ToArray(), layout.UnconditionalOf)),
            sampler, new GuidanceSetup(config.NumClasses, config.InChannels, guidance),
            [config.InChannels, config.InputSize, config.InputSize], device, dtype);
    }

    public int Count => _rows.Count;

    public void Join(long id, GenerationRequest request) =>
        _rows.Join(new GuidedRow(request.Seed, request.ClassId, request.GuidanceScale, request.GuidanceInterval), new Row(id, new RowStepCache(request.Cache)));

    public void Leave(long id)
    {
        var row = _rows.States.FirstOrDefault(r => r.Id == id);
        if (row is null || !_rows.Leave(row)) return;
        row.Cache.Dispose();
    }

    public IReadOnlyList<FinishedRow> Step()
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var (rows, samples) = _rows.Step();
        if (samples is null) return [];
        return Decode(rows, samples).Select((image, i) => new FinishedRow(rows[i].Id, image)).ToArray();
    }

    /// <summary>Samples (F, C, H, W) to one 8-bit image per row (AutoencoderKL decodes in slices of its SliceSize
    /// rows); the rows' step caches are released with them.</summary>
    RawImage[] Decode(IReadOnlyList<Row> rows, Tensor samples)
    {
        using var span = Telemetry.DiTTelemetry.Source.StartActivity("dit.decode");
        using var scope = NewDisposeScope();
        var images = _autoencoder.DecodeLatents(samples);                              // (F, C, H, W) in [-1, 1]
        int channels = (int)images.shape[1], height = (int)images.shape[2], width = (int)images.shape[3];
        var decoded = ImageTensors.ToImageBytes(images)
            .Select((bytes, i) => new RawImage(bytes, width, height, channels) { Passes = rows[i].Cache.Passes }).ToArray();
        foreach (var row in rows) row.Cache.Dispose();
        return decoded;
    }

    public void Dispose()
    {
        foreach (var row in _rows.States) row.Cache.Dispose();
        _rows.Dispose();
    }
}
