using System.Diagnostics;
using DiT.Diffusion;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Logging;

namespace DiT.Serving.Engine;

/// <summary>
/// The stepping loop, for both kinds of batching: one running batch per sampler and step count. Before each round of
/// steps, waiting requests join (continuous batching only, at most MaxBatchSize rows in flight in all) and rows whose
/// client left are dropped; then every running batch takes one step and its finished rows are decoded and answered at
/// once. Whole batching is the same loop with admissions closed after the first rows: they step together and finish
/// together. The loop runs until nothing is in flight (one loop in the stats). Engine thread only.
/// </summary>
sealed partial class SamplingLoop(int maxRows, EngineCounters counters, DiTTelemetry telemetry, ILogger log,
    CancellationToken stopping, Action requestsLeft)
{
    readonly ILogger _log = log;
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

    /// <summary>Samples <paramref name="first"/> and whatever <paramref name="admitNext"/> hands over between steps (it
    /// returns null when nothing may join now; null itself: whole batching) until every row has been answered.</summary>
    public void Run(IBatchPipeline pipeline, IReadOnlyList<WorkItem> first, Func<WorkItem?>? admitNext, long modelTensors)
    {
        var groups = new Dictionary<(SamplerKind, int), RunningGroup>();
        using var span = DiTTelemetry.Source.StartActivity("dit.batch", ActivityKind.Internal, default(ActivityContext),
            links: first.Select(i => new ActivityLink(i.Parent)));
        span?.SetTag("dit.batching", admitNext is null ? "whole" : "continuous");
        int admitted = 0;
        try
        {
            foreach (var item in first) Admit(item);
            while (groups.Count > 0)
            {
                if (stopping.IsCancellationRequested)
                {
                    var stopped = new EngineStoppingException();
                    foreach (var row in groups.Values.SelectMany(g => g.Rows.Values)) row.Item.Fail(stopped);
                    LogStopped(InFlight());
                    break;
                }
                while (admitNext is not null && InFlight() < maxRows && admitNext() is { } item) Admit(item);
                foreach (var (key, group) in groups.ToArray())
                {
                    StepOnce(group, pipeline.Model.Fingerprint);
                    if (group.Rows.Count > 0) continue;
                    group.Batch.Dispose();
                    groups.Remove(key);
                }
                if (groups.Count > 0) counters.Running(InFlight());
            }
        }
        finally
        {
            foreach (var group in groups.Values) group.Batch.Dispose();
            span?.SetTag("dit.batch.size", admitted);
            counters.LoopDone(LiveTensors.OfThisThread - modelTensors);
            requestsLeft();
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
                LogStepFailed(ex, 1);
                item.Fail(new InvalidOperationException("Generation failed.", ex));
                return;
            }
            group.Rows[id] = new RunningRow(item, now);
            admitted++;
            counters.Running(InFlight());
        }
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
            LogStepFailed(ex, group.Rows.Count);
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
            if (row.Item.Complete(new RowResult(image, fingerprint, queued, took, row.MostRowsShared))) counters.ImageDone(row.MostRowsShared);
        }
    }

    /// <summary>The dit.queue_wait span (enqueue to admission) and metric.</summary>
    void RecordQueueWait(WorkItem item, long admittedAt)
    {
        var waited = (double)(admittedAt - item.EnqueuedAt) / Stopwatch.Frequency;
        telemetry.QueueWait.Record(waited);
        var startTime = DateTimeOffset.UtcNow - TimeSpan.FromSeconds(waited);
        using var span = DiTTelemetry.Source.StartActivity("dit.queue_wait", ActivityKind.Internal, item.Parent, startTime: startTime);
        // The span ends now, when the row joins.
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A step of {Count} rows failed")]
    partial void LogStepFailed(Exception ex, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "The drain window ended with {Count} rows in flight: they fail")]
    partial void LogStopped(int count);
}
