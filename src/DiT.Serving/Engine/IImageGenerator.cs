using DiT.Diffusion;
using DiT.Model.StepCaching;

namespace DiT.Serving.Engine;

/// <summary>The only door to the tensors: endpoints ask for images, the engine batches and runs them.</summary>
public interface IImageGenerator
{
    /// <summary>True once a model is loaded and the engine thread takes requests.</summary>
    bool IsReady { get; }

    /// <summary>The model being served; null until it is loaded.</summary>
    ServedModel? Model { get; }

    EngineStats Stats { get; }

    /// <summary>Queues the request and completes with its pixels (the caller encodes them). Throws <see cref="QueueFullException"/> when the
    /// queue is full, <see cref="EngineUnavailableException"/> before the model is loaded, <see cref="EngineStoppingException"/>
    /// during shutdown (new requests, and queued ones the drain window could not finish), and
    /// <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires (the request leaves its batch).</summary>
    Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<SamplingProgress>? progress, CancellationToken ct);
}

/// <summary>A validated request: every field resolved (class id, defaults applied, seed drawn). GuidanceInterval null
/// guides at every step; otherwise only while the noise level sigma lies inside it.</summary>
public sealed record GenerationRequest(int ClassId, double GuidanceScale, int Steps, SamplerKind Sampler, long Seed,
    GuidanceInterval? GuidanceInterval = null)
{
    /// <summary>How this request reuses the transformer's work across steps (per row: requests with different
    /// settings share batches).</summary>
    public StepCacheSettings Cache { get; init; } = StepCacheSettings.Off;

    /// <summary>Requests with the same key can run in one sampling loop.</summary>
    public (SamplerKind, int) BatchKey => (Sampler, Steps);
}

/// <summary>A finished image, not yet encoded (callers pick the file format), with where its time went.</summary>
public sealed record GeneratedImage(RawImage Image, string ModelFingerprint, TimeSpan QueueTime, TimeSpan GenerateTime, int BatchSize)
{
    /// <summary>The request's model passes (one per step and guidance branch): full, or cached by its step cache.</summary>
    public ModelPasses Passes => Image.Passes;
}

/// <summary>Steps done so far for one request (reported from the engine thread; keep handlers cheap).</summary>
public readonly record struct SamplingProgress(int Step, int TotalSteps);

/// <summary>Counters for /admin/engine and the tests. LiveTensors: tensors alive on the engine thread after its last
/// batch (TorchSharp's thread statistics); it must not grow from batch to batch.</summary>
public sealed record EngineStats(int QueuedRequests, int RunningRequests, long ImagesGenerated, long BatchesRun,
    long RequestsCancelled, long RequestsRejected, int QueueCapacity, int MaxBatchSize, long LiveTensors);

/// <summary>Queue is at capacity; the caller should retry later.</summary>
public sealed class QueueFullException(int capacity) : Exception($"The generation queue is full ({capacity} waiting).")
{
    public int Capacity { get; } = capacity;
}

/// <summary>No model is loaded (starting up, or loading failed).</summary>
public sealed class EngineUnavailableException(string message) : Exception(message);

/// <summary>The service is shutting down: the request was refused, or it could not finish within the drain window.</summary>
public sealed class EngineStoppingException() : Exception("The service is stopping.");
