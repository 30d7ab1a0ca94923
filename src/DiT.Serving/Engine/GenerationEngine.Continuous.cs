using System.Diagnostics;
using DiT.Diffusion;
using DiT.Serving.Telemetry;

namespace DiT.Serving.Engine;

/// <summary>
/// Continuous (step-level) batching: one running batch per sampler and step count. Before each round of steps waiting
/// requests join (at most MaxBatchSize rows in flight in all) and rows whose client left are dropped; then every
/// running batch takes one step and its finished rows are decoded and answered at once, so a short request never waits
/// for a long one. The loop runs until nothing is in flight (counted as one batch in the stats).
/// Model swaps: a pending swap stops admissions; the rows in flight finish on the weights they started with, then the
/// loop ends and the main loop applies the swap, so a request is always served by one set of weights.
/// </summary>
public sealed partial class GenerationEngine
{
    long _nextRowId;

    sealed class RunningGroup(IRunningBatch batch)
    {
        public IRunningBatch Batch { get; } = batch;
        public Dictionary<long, RunningRow> Rows { get; } = [];
    }

    sealed class RunningRow(WorkItem item, long admittedAt)
    {
        public WorkItem Item { get; } = item;
        public long AdmittedAt { get; } = admittedAt;
        public int Step { get; set; }
        public int MostRowsShared { get; set; }
    }

    void RunContinuously(List<WorkItem> first)
    {
        var pipeline = _pipeline!;
        var groups = new Dictionary<(SamplerKind, int), RunningGroup>();
        using var span = DiTTelemetry.Source.StartActivity("dit.batch", ActivityKind.Internal, default(ActivityContext),
            links: first.Select(i => new ActivityLink(i.Parent)));
        span?.SetTag("dit.batching", "continuous");
        int admitted = 0;
        try
        {
            foreach (var item in first) Admit(item);
            while (groups.Count > 0)
            {
                if (_stopping.IsCancellationRequested)
                {
                    var stopped = new EngineStoppingException();
                    foreach (var row in groups.Values.SelectMany(g => g.Rows.Values)) row.Item.Fail(stopped);
                    break;
                }
                if (!HasPendingSwap)
                    while (InFlight() < _options.MaxBatchSize && NextLive(TimeSpan.Zero) is { } item) Admit(item);
                foreach (var (key, group) in groups.ToArray())
                {
                    StepOnce(group, pipeline.Model.Fingerprint);
                    if (group.Rows.Count > 0) continue;
                    group.Batch.Dispose();
                    groups.Remove(key);
                }
                if (groups.Count > 0) Interlocked.Exchange(ref _running, InFlight());
            }
        }
        finally
        {
            foreach (var group in groups.Values) group.Batch.Dispose();
            span?.SetTag("dit.batch.size", admitted);
            RecordLiveTensors();
            Interlocked.Increment(ref _batches);
            Interlocked.Exchange(ref _running, 0); // last: a caller that sees 0 running sees this loop's counters
            RequestsLeft?.Invoke();
        }

        int InFlight() => groups.Values.Sum(g => g.Rows.Count);

        void Admit(WorkItem item)
        {
            var now = Stopwatch.GetTimestamp();
            RecordQueueWait(item, now);
            var key = item.Request.BatchKey;
            if (!groups.TryGetValue(key, out var group))
                groups[key] = group = new RunningGroup(pipeline.StartRunningBatch(item.Request.Sampler, item.Request.Steps));
            long id = ++_nextRowId;
            try { group.Batch.Join(id, item.Request); }
            catch (Exception ex)
            {
                LogBatchFailed(ex, 1);
                item.Fail(new InvalidOperationException("Generation failed.", ex));
                return;
            }
            group.Rows[id] = new RunningRow(item, now);
            admitted++;
            Interlocked.Exchange(ref _running, InFlight());
        }
    }

    bool HasPendingSwap
    {
        get { lock (_swapLock) return _swaps.Any(s => !s.Done.Task.IsCompleted); }
    }

    /// <summary>Drops the rows whose client left, takes one step, reports progress and answers the finished rows.</summary>
    void StepOnce(RunningGroup group, string fingerprint)
    {
        foreach (var (id, row) in group.Rows.Where(r => r.Value.Item.IsAbandoned).ToArray())
        {
            group.Batch.Leave(id);
            group.Rows.Remove(id);
        }
        if (group.Rows.Count == 0) return;

        IReadOnlyList<FinishedRow> finished;
        try { finished = group.Batch.Step(); }
        catch (Exception ex)
        {
            LogBatchFailed(ex, group.Rows.Count);
            foreach (var row in group.Rows.Values) row.Item.Fail(new InvalidOperationException("Generation failed.", ex));
            group.Rows.Clear();
            return;
        }

        int shared = group.Rows.Count;
        foreach (var row in group.Rows.Values)
        {
            row.Step++;
            row.MostRowsShared = Math.Max(row.MostRowsShared, shared);
            if (!row.Item.IsAbandoned) row.Item.Progress?.Report(new SamplingProgress(row.Step, row.Item.Request.Steps));
        }
        var now = Stopwatch.GetTimestamp();
        foreach (var (id, image) in finished)
        {
            if (!group.Rows.Remove(id, out var row)) continue;
            var queued = TimeSpan.FromSeconds((double)(row.AdmittedAt - row.Item.EnqueuedAt) / Stopwatch.Frequency);
            var took = TimeSpan.FromSeconds((double)(now - row.AdmittedAt) / Stopwatch.Frequency);
            if (!row.Item.Complete(new RowResult(image, fingerprint, queued, took, row.MostRowsShared))) continue;
            Interlocked.Increment(ref _images);
            _telemetry.Images.Add(1);
            _telemetry.BatchSize.Record(row.MostRowsShared);
        }
    }
}
