using DiT.Diffusion;

namespace DiT.Serving.Engine;

/// <summary>The tensor side of the engine. Created, used and disposed on the engine thread only.</summary>
public interface IBatchPipeline : IDisposable
{
    ServedModel Model { get; }

    /// <summary>An empty running batch: rows of this sampler and step count join and leave between steps (whole batching
    /// joins them all before the first).
    /// It uses this pipeline's weights for its whole life (dispose it before the pipeline).</summary>
    IRunningBatch StartRunningBatch(SamplerKind sampler, int steps);

    /// <summary>A pipeline serving <paramref name="model"/> with everything else kept; this one then gives up
    /// what the new one shares, so disposing it frees only its own weights.</summary>
    IBatchPipeline WithModel(DiT.Model.DiTModel model, string fingerprint);
}

/// <summary>Loads the pipeline named by the options; runs on the engine thread.</summary>
public interface IPipelineLoader
{
    IBatchPipeline Load();
}

/// <summary>8-bit pixels, row-major HWC; Channels is 1 (grey) or 3 (RGB).</summary>
public sealed record RawImage(byte[] Pixels, int Width, int Height, int Channels)
{
    /// <summary>The model passes that drew it (full, or cached by its request's step cache).</summary>
    public DiT.Model.StepCaching.ModelPasses Passes { get; init; }
}

/// <summary>
/// The tensor side of the sampling loop for one sampler and step count: each row carries its own step, so rows join
/// and leave between steps, and a row's image does not depend on which rows shared its steps (its noise comes from a
/// generator seeded with its own seed). Engine thread only.
/// </summary>
public interface IRunningBatch : IDisposable
{
    /// <summary>Rows in the batch.</summary>
    int Count { get; }

    /// <summary>Adds a row at its first step, drawing its starting noise from its own seed.</summary>
    void Join(long id, GenerationRequest request);

    /// <summary>Drops a row (its client left); the others are untouched.</summary>
    void Leave(long id);

    /// <summary>Advances every row by one denoising step; rows that took their last step leave, decoded.</summary>
    IReadOnlyList<FinishedRow> Step();
}

/// <summary>A row that took its last step, decoded.</summary>
public sealed record FinishedRow(long Id, RawImage Image);
