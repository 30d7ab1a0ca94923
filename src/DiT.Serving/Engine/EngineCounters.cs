using DiT.Serving.Telemetry;

namespace DiT.Serving.Engine;

/// <summary>
/// Stats: the engine's counters, written by the engine thread and by callers, read by /admin/engine and the tests as
/// <see cref="EngineStats"/>, and the matching metrics.
/// </summary>
sealed class EngineCounters(DiTTelemetry telemetry)
{
    int _running;
    long _images, _loops, _cancelled, _rejected, _liveTensors;

    public EngineStats Snapshot(int queued, int queueCapacity, int maxBatchSize) => new(queued, Volatile.Read(ref _running),
        Interlocked.Read(ref _images), Interlocked.Read(ref _loops), Interlocked.Read(ref _cancelled),
        Interlocked.Read(ref _rejected), queueCapacity, maxBatchSize, Interlocked.Read(ref _liveTensors));

    public void Rejected() => Interlocked.Increment(ref _rejected);

    public void Cancelled() => Interlocked.Increment(ref _cancelled);

    public void Running(int rows) => Interlocked.Exchange(ref _running, rows);

    /// <summary>One image answered, drawn in steps shared with at most <paramref name="mostRowsShared"/> rows.</summary>
    public void ImageDone(int mostRowsShared)
    {
        Interlocked.Increment(ref _images);
        telemetry.Images.Add(1);
        telemetry.BatchSize.Record(mostRowsShared);
    }

    /// <summary>A sampling loop has ended; <paramref name="liveTensors"/> are what the engine thread holds beyond the
    /// model. Running drops to 0 last, so a caller that sees 0 running sees this loop's counters.</summary>
    public void LoopDone(long liveTensors)
    {
        Interlocked.Exchange(ref _liveTensors, liveTensors);
        Interlocked.Increment(ref _loops);
        Interlocked.Exchange(ref _running, 0);
    }

    /// <summary>What the engine thread holds beyond the model, after something other than a loop (a swap).</summary>
    public void LiveTensorsNow(long liveTensors) => Interlocked.Exchange(ref _liveTensors, liveTensors);
}
