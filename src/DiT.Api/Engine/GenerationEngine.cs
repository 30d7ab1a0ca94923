using System.Diagnostics;
using System.Threading.Channels;
using DiT.Api.Options;
using DiT.Api.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Engine;

/// <summary>
/// The inference engine: a bounded queue drained by one dedicated thread that owns every tensor.
/// The thread takes up to MaxBatchSize compatible requests (same sampler and steps, waiting at most
/// MaxBatchDelay to fill a batch), samples them in one loop and hands each row back; callers encode
/// their PNG on their own thread. Model swaps happen between batches.
/// </summary>
public sealed partial class GenerationEngine : IImageGenerator, IHostedService, IDisposable
{
    static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(200);

    readonly IPipelineLoader _loader;
    readonly EngineOptions _options;
    readonly DiTTelemetry _telemetry;
    readonly ILogger<GenerationEngine> _log;
    readonly IHostApplicationLifetime _lifetime;
    readonly Channel<WorkItem> _queue;
    readonly Queue<WorkItem> _deferred = new(); // taken from the channel, waiting for a compatible batch (engine thread only)
    readonly CancellationTokenSource _stopping = new();
    readonly Lock _swapLock = new();
    readonly List<PendingSwap> _swaps = [];
    Thread? _thread;
    Task<bool>? _pendingWait;
    volatile IBatchPipeline? _pipeline;
    int _deferredCount, _running;
    long _images, _batches, _cancelled, _rejected;

    public GenerationEngine(IPipelineLoader loader, IOptions<EngineOptions> options, DiTTelemetry telemetry,
        ILogger<GenerationEngine> log, IHostApplicationLifetime lifetime)
    {
        _loader = loader;
        _options = options.Value;
        _telemetry = telemetry;
        _log = log;
        _lifetime = lifetime;
        _queue = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we answer 429 rather than wait
        });
        telemetry.ObserveQueueDepth(() => QueueDepth);
    }

    public bool IsReady => _pipeline is not null && !_stopping.IsCancellationRequested;
    public ServedModel? Model => _pipeline?.Model;
    int QueueDepth => _queue.Reader.Count + Volatile.Read(ref _deferredCount);

    public EngineStats Stats => new(QueueDepth, Volatile.Read(ref _running), Interlocked.Read(ref _images),
        Interlocked.Read(ref _batches), Interlocked.Read(ref _cancelled), Interlocked.Read(ref _rejected),
        _options.QueueCapacity, _options.MaxBatchSize);

    // ---------------------------------------------------------------- callers' side

    public async Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<SamplingProgress>? progress, CancellationToken ct)
    {
        if (!IsReady) throw new EngineUnavailableException("The model is not loaded yet.");
        ct.ThrowIfCancellationRequested();
        var item = new WorkItem(request, progress, Activity.Current?.Context ?? default);
        if (!_queue.Writer.TryWrite(item))
        {
            Interlocked.Increment(ref _rejected);
            throw new QueueFullException(_options.QueueCapacity);
        }
        item.CancelWith(ct);
        RowResult row;
        try { row = await item.Completion; }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _cancelled);
            throw;
        }
        var encodeStart = Stopwatch.GetTimestamp();
        byte[] png;
        using (DiTTelemetry.Source.StartActivity("dit.encode_png"))
            png = PngWriter.Encode(row.Image);
        return new GeneratedImage(png, row.Image.Width, row.Image.Height, row.Fingerprint, row.QueueTime,
            row.GenerateTime + Stopwatch.GetElapsedTime(encodeStart), row.BatchSize);
    }

    /// <summary>
    /// Replaces the served model between batches: batches in flight finish on the old weights; the task
    /// completes once the new pipeline serves (and the old one is disposed). <paramref name="swap"/> runs on
    /// the engine thread, receives the current pipeline and returns its replacement.
    /// </summary>
    public Task SwapPipelineAsync(Func<IBatchPipeline, IBatchPipeline> swap, CancellationToken ct = default)
    {
        var pending = new PendingSwap(swap);
        lock (_swapLock) _swaps.Add(pending);
        ct.Register(() => pending.Done.TrySetCanceled(ct));
        return pending.Done.Task;
    }

    sealed record PendingSwap(Func<IBatchPipeline, IBatchPipeline> Swap)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // ---------------------------------------------------------------- hosting

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _thread = new Thread(RunEngineThread) { IsBackground = true, Name = "dit-engine" };
        _thread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        _queue.Writer.TryComplete();
        _thread?.Join(TimeSpan.FromSeconds(30));
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        if (_thread is { IsAlive: true }) StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        _stopping.Dispose();
    }

    // ---------------------------------------------------------------- the engine thread

    void RunEngineThread()
    {
        try
        {
            var started = Stopwatch.GetTimestamp();
            var pipeline = _loader.Load();
            _pipeline = pipeline;
            var m = pipeline.Model;
            LogModelLoaded(m.Name, m.Source, m.Device, m.Dtype, m.Fingerprint, Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (m.IsUntrainedDefault) LogUntrainedDefault(m.Name);
        }
        catch (Exception ex)
        {
            LogLoadFailed(ex);
            _lifetime.StopApplication();
            return;
        }

        while (!_stopping.IsCancellationRequested)
        {
            ApplySwaps();
            var batch = TakeBatch();
            if (batch.Count > 0) RunBatch(batch);
        }

        foreach (var item in DrainAll()) item.Fail(new EngineUnavailableException("The service is stopping."));
        _pipeline?.Dispose();
    }

    void ApplySwaps()
    {
        PendingSwap[] swaps;
        lock (_swapLock) { swaps = [.. _swaps]; _swaps.Clear(); }
        foreach (var swap in swaps)
        {
            if (swap.Done.Task.IsCompleted) continue;
            try
            {
                var old = _pipeline!;
                _pipeline = swap.Swap(old);
                if (!ReferenceEquals(old, _pipeline)) old.Dispose();
                LogModelSwapped(_pipeline.Model.Fingerprint);
                swap.Done.TrySetResult();
            }
            catch (Exception ex) { swap.Done.TrySetException(ex); }
        }
    }

    /// <summary>The oldest live request plus compatible ones, waiting at most MaxBatchDelay for more.</summary>
    List<WorkItem> TakeBatch()
    {
        var batch = new List<WorkItem>(_options.MaxBatchSize);
        var first = NextLive(IdlePoll);
        if (first is null) return batch;
        batch.Add(first);
        var key = first.Request.BatchKey;

        // Deferred requests are older than anything in the channel: they go first.
        foreach (var item in TakeDeferred(i => i.Request.BatchKey == key, _options.MaxBatchSize - 1)) batch.Add(item);

        var deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxBatchDelay.TotalSeconds * Stopwatch.Frequency);
        while (batch.Count < _options.MaxBatchSize)
        {
            var left = TimeSpan.FromSeconds((double)(deadline - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
            if (!_queue.Reader.TryRead(out var next))
            {
                if (left <= TimeSpan.Zero || !WaitForQueue(left)) break;
                continue;
            }
            if (next.IsAbandoned) continue;
            if (next.Request.BatchKey == key) batch.Add(next);
            else Defer(next);
        }
        return batch;
    }

    WorkItem? NextLive(TimeSpan wait)
    {
        foreach (var item in TakeDeferred(_ => true, 1)) return item;
        while (true)
        {
            if (_queue.Reader.TryRead(out var item))
            {
                if (!item.IsAbandoned) return item;
                continue;
            }
            if (!WaitForQueue(wait)) return null;
        }
    }

    IEnumerable<WorkItem> TakeDeferred(Func<WorkItem, bool> match, int max)
    {
        var taken = new List<WorkItem>();
        var keep = new Queue<WorkItem>();
        while (_deferred.TryDequeue(out var item))
        {
            if (item.IsAbandoned) continue;
            if (taken.Count < max && match(item)) taken.Add(item);
            else keep.Enqueue(item);
        }
        foreach (var item in keep) _deferred.Enqueue(item);
        Volatile.Write(ref _deferredCount, _deferred.Count);
        return taken;
    }

    void Defer(WorkItem item)
    {
        _deferred.Enqueue(item);
        Volatile.Write(ref _deferredCount, _deferred.Count);
    }

    /// <summary>Blocks the engine thread until the queue has an item (true) or the wait ends (false).
    /// One outstanding WaitToReadAsync is kept across calls so timeouts leave no waiters behind.</summary>
    bool WaitForQueue(TimeSpan wait)
    {
        _pendingWait ??= _queue.Reader.WaitToReadAsync(_stopping.Token).AsTask();
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

    void RunBatch(List<WorkItem> items)
    {
        var pipeline = _pipeline!;
        var batchStart = Stopwatch.GetTimestamp();
        using var batch = new Batch(items, _stopping.Token);
        foreach (var item in items)
        {
            item.JoinBatch(batch);
            RecordQueueWait(item, batchStart);
        }
        Interlocked.Exchange(ref _running, items.Count);
        var links = items.Select(i => new ActivityLink(i.Parent)).ToArray();
        using var span = DiTTelemetry.Source.StartActivity("dit.batch", ActivityKind.Internal, default(ActivityContext), links: links);
        span?.SetTag("dit.batch.size", items.Count);
        span?.SetTag("dit.sampler", items[0].Request.Sampler.ToString());
        span?.SetTag("dit.steps", items[0].Request.Steps);
        try
        {
            var images = pipeline.Run(items.Select(i => i.Request).ToArray(), batch.Token, ReportProgress);
            var took = Stopwatch.GetElapsedTime(batchStart);
            for (int i = 0; i < items.Count; i++)
            {
                var queued = TimeSpan.FromSeconds((double)(batchStart - items[i].EnqueuedAt) / Stopwatch.Frequency);
                items[i].Complete(new RowResult(images[i], pipeline.Model.Fingerprint, queued, took, items.Count));
            }
            Interlocked.Add(ref _images, items.Count);
            Interlocked.Increment(ref _batches);
            _telemetry.Images.Add(items.Count);
            _telemetry.BatchSize.Record(items.Count);
            LogBatchDone(items.Count, items[0].Request.Sampler, items[0].Request.Steps, took.TotalMilliseconds);
        }
        catch (OperationCanceledException) when (batch.Token.IsCancellationRequested)
        {
            LogBatchCancelled(items.Count);
            foreach (var item in items) item.Fail(new OperationCanceledException(batch.Token));
        }
        catch (Exception ex)
        {
            span?.SetStatus(ActivityStatusCode.Error);
            LogBatchFailed(ex, items.Count);
            foreach (var item in items) item.Fail(new InvalidOperationException("Generation failed.", ex));
        }
        finally
        {
            Interlocked.Exchange(ref _running, 0);
        }

        void ReportProgress(int step, int total)
        {
            foreach (var item in items)
                if (!item.IsAbandoned) item.Progress?.Report(new SamplingProgress(step, total));
        }
    }

    void RecordQueueWait(WorkItem item, long batchStart)
    {
        var waited = (double)(batchStart - item.EnqueuedAt) / Stopwatch.Frequency;
        _telemetry.QueueWait.Record(waited);
        var startTime = DateTimeOffset.UtcNow - TimeSpan.FromSeconds(waited);
        using var span = DiTTelemetry.Source.StartActivity("dit.queue_wait", ActivityKind.Internal, item.Parent, startTime: startTime);
        // The span ends now, when the batch starts.
    }

    IEnumerable<WorkItem> DrainAll()
    {
        foreach (var item in TakeDeferred(_ => true, int.MaxValue)) yield return item;
        while (_queue.Reader.TryRead(out var item)) yield return item;
    }

    // ---------------------------------------------------------------- logs

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Name} loaded from {Source} on {Device}/{Dtype}, fingerprint {Fingerprint}, in {Seconds:F1} s")]
    partial void LogModelLoaded(string name, string source, string device, string dtype, string fingerprint, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Serving the UNTRAINED built-in default model {Name} (no Model:CheckpointPath configured): images are noise-like")]
    partial void LogUntrainedDefault(string name);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Loading the model failed; the service stops")]
    partial void LogLoadFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model swapped; now serving fingerprint {Fingerprint}")]
    partial void LogModelSwapped(string fingerprint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Batch of {Count} ({Sampler}, {Steps} steps) took {Ms:F0} ms")]
    partial void LogBatchDone(int count, Sampler sampler, int steps, double ms);

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch of {Count} cancelled: every client left or the service is stopping")]
    partial void LogBatchCancelled(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Batch of {Count} failed")]
    partial void LogBatchFailed(Exception ex, int count);
}
