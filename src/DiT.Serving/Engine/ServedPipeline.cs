using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace DiT.Serving.Engine;

/// <summary>
/// Model swaps: the pipeline the engine serves, its first load and the swaps queued by promotions. Swaps are requested
/// from any thread and applied by the engine thread between sampling loops, so a request is always served by one set
/// of weights. Also keeps how many of the engine thread's live tensors are the model's, so that the rest can be
/// reported as what requests left behind.
/// </summary>
sealed partial class ServedPipeline(ILogger log) : IDisposable
{
    readonly ILogger _log = log;
    readonly Lock _lock = new();
    readonly List<PendingSwap> _swaps = [];
    volatile IBatchPipeline? _current;

    sealed record PendingSwap(Func<IBatchPipeline, IBatchPipeline> Swap)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The pipeline serving now; null until the first load has finished.</summary>
    public IBatchPipeline? Current => _current;

    /// <summary>Engine thread only: its live tensors that belong to the served model, not to requests.</summary>
    public long ModelTensors { get; private set; }

    /// <summary>Raised on the engine thread whenever a model starts serving (the first load and every swap).</summary>
    public event Action<ServedModel>? Changed;

    /// <summary>True while a swap waits: the stepping loop admits no new rows, so the swap comes once the rows in flight finish.</summary>
    public bool HasPendingSwap
    {
        get { lock (_lock) return _swaps.Any(s => !s.Done.Task.IsCompleted); }
    }

    /// <summary>Loads the first pipeline on the engine thread.</summary>
    public void Load(IPipelineLoader loader)
    {
        var started = Stopwatch.GetTimestamp();
        var pipeline = loader.Load();
        ModelTensors = LiveTensors.OfThisThread;
        _current = pipeline;
        var m = pipeline.Model;
        Changed?.Invoke(m);
        LogModelLoaded(m.Name, m.Source, m.Device, m.Dtype, m.Fingerprint, Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (m.IsUntrainedDefault) LogUntrainedDefault(m.Name);
    }

    /// <summary>Queues a swap; the task completes once the new pipeline serves (and the old one is disposed).</summary>
    public Task Request(Func<IBatchPipeline, IBatchPipeline> swap, CancellationToken ct)
    {
        var pending = new PendingSwap(swap);
        lock (_lock) _swaps.Add(pending);
        ct.Register(() => pending.Done.TrySetCanceled(ct));
        return pending.Done.Task;
    }

    /// <summary>Applies the queued swaps in order (engine thread, between sampling loops); one that throws leaves the
    /// pipeline as it was and fails its own task only. False when none was queued.</summary>
    public bool ApplyPending()
    {
        PendingSwap[] swaps;
        lock (_lock) { swaps = [.. _swaps]; _swaps.Clear(); }
        if (swaps.Length == 0) return false;
        foreach (var swap in swaps)
        {
            if (swap.Done.Task.IsCompleted) continue;
            try
            {
                long before = LiveTensors.OfThisThread;
                var old = _current!;
                var next = swap.Swap(old);
                _current = next;
                if (!ReferenceEquals(old, next)) old.Dispose();
                // The new model's tensors were made on another thread and the old one's are disposed here: this thread's
                // count moves by what the swap did, which is no leak. Without this it went negative after promotions.
                ModelTensors += LiveTensors.OfThisThread - before;
                LogModelSwapped(next.Model.Fingerprint);
                swap.Done.TrySetResult();
                Changed?.Invoke(next.Model);
            }
            catch (Exception ex) { swap.Done.TrySetException(ex); }
        }
        return true;
    }

    /// <summary>Fails the swaps still queued (the engine has stopped).</summary>
    public void FailPending(Exception reason)
    {
        lock (_lock) foreach (var swap in _swaps) swap.Done.TrySetException(reason);
    }

    public void Dispose() => _current?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Name} loaded from {Source} on {Device}/{Dtype}, fingerprint {Fingerprint}, in {Seconds:F1} s")]
    partial void LogModelLoaded(string name, string source, string device, string dtype, string fingerprint, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Serving the UNTRAINED built-in default model {Name} (no Model:CheckpointPath configured): images are noise-like")]
    partial void LogUntrainedDefault(string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model swapped; now serving fingerprint {Fingerprint}")]
    partial void LogModelSwapped(string fingerprint);
}

/// <summary>TorchSharp's count of the tensors alive on this thread.</summary>
static class LiveTensors
{
    public static long OfThisThread => TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
}
