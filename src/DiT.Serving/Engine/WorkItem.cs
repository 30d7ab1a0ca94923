using System.Diagnostics;

namespace DiT.Serving.Engine;

/// <summary>One queued request: its completion, cancellation and progress hooks.</summary>
sealed class WorkItem(GenerationRequest request, IProgress<SamplingProgress>? progress, ActivityContext parent)
{
    readonly TaskCompletionSource<RowResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    CancellationTokenRegistration _registration;

    public GenerationRequest Request { get; } = request;
    public IProgress<SamplingProgress>? Progress { get; } = progress;
    public ActivityContext Parent { get; } = parent;
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();
    public Task<RowResult> Completion => _completion.Task;
    public bool IsAbandoned => _completion.Task.IsCompleted;

    /// <summary>A client that goes away cancels its item at once; its row leaves the sampling loop before the next step.</summary>
    public void CancelWith(CancellationToken ct) => _registration = ct.Register(() => _completion.TrySetCanceled(ct));

    public bool Complete(RowResult result)
    {
        _registration.Dispose();
        return _completion.TrySetResult(result);
    }

    public void Fail(Exception error)
    {
        _registration.Dispose();
        _completion.TrySetException(error);
    }
}

/// <summary>What the engine thread hands back for one row; encoding happens on the caller's side.</summary>
sealed record RowResult(RawImage Image, string Fingerprint, TimeSpan QueueTime, TimeSpan GenerateTime, int BatchSize);
