using System.Diagnostics;

namespace DiT.Serving.Engine;

/// <summary>One queued request: its completion, cancellation and progress hooks.</summary>
sealed class WorkItem(GenerationRequest request, IProgress<SamplingProgress>? progress, ActivityContext parent)
{
    readonly TaskCompletionSource<RowResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    CancellationTokenRegistration _registration;
    Batch? _batch;

    public GenerationRequest Request { get; } = request;
    public IProgress<SamplingProgress>? Progress { get; } = progress;
    public ActivityContext Parent { get; } = parent;
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();
    public Task<RowResult> Completion => _completion.Task;
    public bool IsAbandoned => _completion.Task.IsCompleted;

    /// <summary>A client that goes away cancels its item at once; its batch stops only when every row is gone.</summary>
    public void CancelWith(CancellationToken ct) =>
        _registration = ct.Register(() =>
        {
            if (_completion.TrySetCanceled(ct)) Volatile.Read(ref _batch)?.RowLeft();
        });

    public void JoinBatch(Batch batch) => Volatile.Write(ref _batch, batch);

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

/// <summary>The rows sampled together; cancelled when every row has left.</summary>
sealed class Batch(IReadOnlyList<WorkItem> items, CancellationToken stopping) : IDisposable
{
    readonly CancellationTokenSource _cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
    int _live = items.Count;

    public IReadOnlyList<WorkItem> Items { get; } = items;
    public CancellationToken Token => _cts.Token;

    public void RowLeft()
    {
        if (Interlocked.Decrement(ref _live) != 0) return;
        try { _cts.Cancel(); }
        catch (ObjectDisposedException) { } // the batch already finished
    }

    public void Dispose() => _cts.Dispose();
}

/// <summary>What the engine thread hands back for one row; encoding happens on the caller's side.</summary>
sealed record RowResult(RawImage Image, string Fingerprint, TimeSpan QueueTime, TimeSpan GenerateTime, int BatchSize);
