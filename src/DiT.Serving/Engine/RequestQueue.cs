using System.Diagnostics;
using System.Threading.Channels;

namespace DiT.Serving.Engine;

/// <summary>
/// Admission: the bounded queue between callers and the engine thread. Callers enqueue (a full queue refuses at once, for
/// a 429); the engine thread takes the oldest live request plus compatible ones, and keeps the incompatible ones it
/// read on the way (deferred) ahead of everything still in the channel. Requests whose caller left are dropped here.
/// Admissions can be held (tests line requests up under a hold so that they share their first step).
/// </summary>
sealed class RequestQueue : IDisposable
{
    readonly Channel<WorkItem> _channel;
    readonly Queue<WorkItem> _deferred = new(); // read from the channel, waiting for a compatible batch (engine thread only)
    readonly CancellationToken _stopping;
    readonly Action _dropped;
    readonly ManualResetEventSlim _admissionsOpen = new(initialState: true);
    int _admissionHolds, _deferredCount;
    Task<bool>? _pendingWait;

    /// <param name="stopping">Ends every wait of the engine thread (the drain window is over).</param>
    /// <param name="dropped">Called on the engine thread after dropping requests whose caller left.</param>
    public RequestQueue(int capacity, CancellationToken stopping, Action dropped)
    {
        _channel = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we answer 429 rather than wait
        });
        (_stopping, _dropped) = (stopping, dropped);
    }

    public int Depth => _channel.Reader.Count + Volatile.Read(ref _deferredCount);

    /// <summary>Closed, and nothing left to take: the engine thread's work is done.</summary>
    public bool IsDrained => _channel.Reader.Completion.IsCompleted && _deferred.Count == 0;

    /// <summary>False when the queue is full or closed.</summary>
    public bool TryEnqueue(WorkItem item) => _channel.Writer.TryWrite(item);

    /// <summary>No new requests; those queued stay to be taken.</summary>
    public void Close() => _channel.Writer.TryComplete();

    /// <summary>Holds admissions until the handle is disposed: the engine thread takes nothing while requests queue.</summary>
    public IDisposable Hold()
    {
        if (Interlocked.Increment(ref _admissionHolds) == 1) _admissionsOpen.Reset();
        return new AdmissionHold(this);
    }

    sealed class AdmissionHold(RequestQueue queue) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0 && Interlocked.Decrement(ref queue._admissionHolds) == 0)
                queue._admissionsOpen.Set();
        }
    }

    /// <summary>The oldest live request plus up to <paramref name="max"/> - 1 compatible ones (same sampler and steps),
    /// waiting at most <paramref name="fillDelay"/> for more; empty when none came within <paramref name="idleWait"/>.</summary>
    public List<WorkItem> TakeBatch(int max, TimeSpan fillDelay, TimeSpan idleWait)
    {
        var batch = new List<WorkItem>(max);
        var first = NextLive(idleWait);
        if (first is null) return batch;
        batch.Add(first);
        var key = first.Request.BatchKey;

        // Deferred requests are older than anything in the channel: they go first.
        batch.AddRange(TakeDeferred(i => i.Request.BatchKey == key, max - 1));

        var deadline = Stopwatch.GetTimestamp() + (long)(fillDelay.TotalSeconds * Stopwatch.Frequency);
        while (batch.Count < max)
        {
            var left = TimeSpan.FromSeconds((double)(deadline - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
            if (!_channel.Reader.TryRead(out var next))
            {
                if (left <= TimeSpan.Zero || !WaitForItems(left)) break;
                continue;
            }
            if (next.IsAbandoned) continue;
            if (next.Request.BatchKey == key) batch.Add(next);
            else Defer(next);
        }
        return batch;
    }

    /// <summary>The oldest live request of any kind, waiting at most <paramref name="wait"/>; null while admissions are held.</summary>
    public WorkItem? NextLive(TimeSpan wait)
    {
        if (!AdmissionsOpen(wait)) return null;
        foreach (var item in TakeDeferred(_ => true, 1)) return item;
        while (true)
        {
            if (_channel.Reader.TryRead(out var item))
            {
                if (!item.IsAbandoned) return item;
                _dropped();
                continue;
            }
            if (!WaitForItems(wait) || !AdmissionsOpen(wait)) return null;
        }
    }

    /// <summary>Everything still queued (at the end, to fail it).</summary>
    public IEnumerable<WorkItem> DrainAll()
    {
        foreach (var item in TakeDeferred(_ => true, int.MaxValue)) yield return item;
        while (_channel.Reader.TryRead(out var item)) yield return item;
    }

    /// <summary>False while admissions are held and <paramref name="wait"/> passes (or the drain window ends).</summary>
    bool AdmissionsOpen(TimeSpan wait)
    {
        try { return _admissionsOpen.Wait(wait, _stopping); }
        catch (OperationCanceledException) { return false; }
    }

    List<WorkItem> TakeDeferred(Func<WorkItem, bool> match, int max)
    {
        var taken = new List<WorkItem>();
        var keep = new Queue<WorkItem>();
        bool dropped = false;
        while (_deferred.TryDequeue(out var item))
        {
            if (item.IsAbandoned) { dropped = true; continue; }
            if (taken.Count < max && match(item)) taken.Add(item);
            else keep.Enqueue(item);
        }
        foreach (var item in keep) _deferred.Enqueue(item);
        Volatile.Write(ref _deferredCount, _deferred.Count);
        if (dropped) _dropped();
        return taken;
    }

    void Defer(WorkItem item)
    {
        _deferred.Enqueue(item);
        Volatile.Write(ref _deferredCount, _deferred.Count);
    }

    /// <summary>Blocks the engine thread until the channel has an item (true) or the wait ends (false).
    /// One outstanding WaitToReadAsync is kept across calls so timeouts leave no waiters behind.</summary>
    bool WaitForItems(TimeSpan wait)
    {
        _pendingWait ??= _channel.Reader.WaitToReadAsync(_stopping).AsTask();
        try
        {
            if (!_pendingWait.Wait(wait)) return false;
        }
        catch (AggregateException) when (_pendingWait.IsCanceled || _pendingWait.IsFaulted)
        {
            _pendingWait = null;
            return false;
        }
        var hasItems = _pendingWait.Result;
        _pendingWait = null;
        return hasItems;
    }

    public void Dispose() => _admissionsOpen.Dispose();
}
