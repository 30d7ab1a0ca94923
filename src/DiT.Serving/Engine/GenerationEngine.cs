using System.Diagnostics;
using System.Threading.Channels;
using DiT.Diffusion;
using DiT.Serving.Options;
using DiT.Serving.Startup;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DiT.Serving.Engine;

/// <summary>
/// The inference engine: a bounded queue drained by one dedicated thread that owns every tensor.
/// Whole batching: the thread takes up to MaxBatchSize compatible requests (same sampler and steps, waiting at most
/// MaxBatchDelay to fill a batch), samples them in one loop and hands each row back. Continuous batching
/// (GenerationEngine.Continuous.cs): requests join running batches between steps and leave when done.
/// Callers encode their image on their own thread. Model swaps happen between batches.
/// Shutdown drains: from ApplicationStopping on, new requests get <see cref="EngineStoppingException"/> while queued ones
/// still run, until the drain window (HostOptions.ShutdownTimeout less a margin for writing the answers) ends; whatever
/// is left then fails with <see cref="EngineStoppingException"/> too, so every caller gets an answer.
/// </summary>
public sealed partial class GenerationEngine : IImageGenerator, IModelSwaps, IHostedService, IDisposable
{
    static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(200);
    static readonly TimeSpan FinishGrace = TimeSpan.FromSeconds(10);

    readonly IPipelineLoader _loader;
    readonly EngineOptions _options;
    readonly DiTTelemetry _telemetry;
    readonly ILogger<GenerationEngine> _log;
    readonly IHostApplicationLifetime _lifetime;
    readonly TimeSpan _drainWindow;
    readonly Channel<WorkItem> _queue;
    readonly Queue<WorkItem> _deferred = new(); // taken from the channel, waiting for a compatible batch (engine thread only)
    readonly CancellationTokenSource _stopping = new(); // the drain window is over: stop the batch, fail the rest
    readonly TaskCompletionSource _threadDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    volatile bool _closed; // the service is stopping: no new requests
    bool _disposed;
    readonly ManualResetEventSlim _admissionsOpen = new(initialState: true);
    int _admissionHolds;
    readonly Lock _swapLock = new();
    readonly List<PendingSwap> _swaps = [];
    Thread? _thread;
    Task<bool>? _pendingWait;
    volatile IBatchPipeline? _pipeline;
    int _deferredCount, _running;
    long _images, _batches, _cancelled, _rejected, _liveTensors;
    long _modelTensors; // engine thread only: its live-tensor count that belongs to the served model, not to requests

    public GenerationEngine(IPipelineLoader loader, IOptions<EngineOptions> options, DiTTelemetry telemetry,
        ILogger<GenerationEngine> log, IHostApplicationLifetime lifetime, IOptions<HostOptions> host)
    {
        _loader = loader;
        _options = options.Value;
        _telemetry = telemetry;
        _log = log;
        _lifetime = lifetime;
        _drainWindow = DrainWindow(host.Value.ShutdownTimeout);
        _queue = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we answer 429 rather than wait
        });
        telemetry.ObserveQueueDepth(() => QueueDepth);
        lifetime.ApplicationStopping.Register(Close);
    }

    /// <summary>The shutdown timeout less 10% (at most 5 s) for the last answers to be written before the host gives up.</summary>
    public static TimeSpan DrainWindow(TimeSpan shutdownTimeout) => shutdownTimeout <= TimeSpan.Zero ? Timeout.InfiniteTimeSpan
        : shutdownTimeout - TimeSpan.FromTicks(Math.Min(shutdownTimeout.Ticks / 10, TimeSpan.FromSeconds(5).Ticks));

    public bool IsReady => _pipeline is not null && !_closed && !_stopping.IsCancellationRequested;

    /// <summary>Why the model could not be loaded at start (the service then stops), or null.</summary>
    public Exception? LoadFailure { get; private set; }
    public ServedModel? Model => _pipeline?.Model;

    /// <summary>Raised on the engine thread whenever a model starts serving (the first load and every swap).</summary>
    public event Action<ServedModel>? ModelChanged;

    /// <summary>Raised on the engine thread whenever requests have left the engine: after each batch (whole) or run of
    /// rows (continuous), once its requests are answered and <see cref="Stats"/> is up to date, and after dropping
    /// queued requests whose callers left.</summary>
    public event Action? RequestsLeft;

    /// <summary>Fires when the shutdown drain window is over: the running batch stops and what is left fails.</summary>
    public CancellationToken DrainWindowEnded => _stopping.Token;

    /// <summary>
    /// Holds new work until the returned handle is disposed: no batch starts and no row joins one (rows in flight keep
    /// stepping), while requests queue as usual. Lining several requests up under a hold and releasing them makes them
    /// share their first step, whatever the machine's speed: what the tests use instead of waiting for a batch to fill.
    /// </summary>
    public IDisposable HoldAdmissions()
    {
        if (Interlocked.Increment(ref _admissionHolds) == 1) _admissionsOpen.Reset();
        return new AdmissionHold(this);
    }

    sealed class AdmissionHold(GenerationEngine engine) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0 && Interlocked.Decrement(ref engine._admissionHolds) == 0)
                engine._admissionsOpen.Set();
        }
    }

    /// <summary>False while admissions are held and <paramref name="wait"/> passes (or the drain window ends).</summary>
    bool AdmissionsOpen(TimeSpan wait)
    {
        try { return _admissionsOpen.Wait(wait, _stopping.Token); }
        catch (OperationCanceledException) { return false; }
    }
    int QueueDepth => _queue.Reader.Count + Volatile.Read(ref _deferredCount);

    public EngineStats Stats => new(QueueDepth, Volatile.Read(ref _running), Interlocked.Read(ref _images),
        Interlocked.Read(ref _batches), Interlocked.Read(ref _cancelled), Interlocked.Read(ref _rejected),
        _options.QueueCapacity, _options.MaxBatchSize, Interlocked.Read(ref _liveTensors));

    // ---------------------------------------------------------------- callers' side

    public async Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<SamplingProgress>? progress, CancellationToken ct)
    {
        if (_closed) throw new EngineStoppingException();
        if (!IsReady) throw new EngineUnavailableException("The model is not loaded yet.");
        ct.ThrowIfCancellationRequested();
        var item = new WorkItem(request, progress, Activity.Current?.Context ?? default);
        if (!_queue.Writer.TryWrite(item))
        {
            if (_closed) throw new EngineStoppingException();
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
        _telemetry.CountModelPasses(row.Image.Passes);
        return new GeneratedImage(row.Image, row.Fingerprint, row.QueueTime, row.GenerateTime, row.BatchSize);
    }

    /// <summary>
    /// Serves <paramref name="model"/> from the next batch on (batches in flight finish on the old weights). The engine
    /// takes ownership: it moves the model to its device and dtype, disposes it when it is replaced, and the caller must
    /// not use it afterwards. The model must keep the served input size, channels and classes (else the task fails with
    /// ArgumentException and the old model stays). <paramref name="fingerprint"/> names the weights in /model, in the
    /// X-Model-Fingerprint header and in cache keys, so it must change whenever the weights do.
    /// </summary>
    public Task SwapModelAsync(DiT.Model.DiTModel model, string fingerprint, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(fingerprint);
        return SwapPipelineAsync(old => old.WithModel(model, fingerprint), ct);
    }

    /// <summary>
    /// Replaces the served pipeline between batches: batches in flight finish on the old weights; the task
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

    /// <summary>Drains: the engine thread finishes what is queued and ends; when <paramref name="cancellationToken"/>
    /// (the host's shutdown timeout) fires first, the running batch stops and the rest fail with EngineStoppingException.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // With minimal hosting, app.Run() stops and disposes the host while WebApplicationFactory also calls
        // StopAsync: a second stop after Dispose must be a no-op, not an ObjectDisposedException.
        if (_thread is null || _disposed) return;
        Close();
        try
        {
            await _threadDone.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) { }
        CancelRemaining(); // the running batch stops at its next step and the rest fail; a moment for that
        await Task.WhenAny(_threadDone.Task, Task.Delay(FinishGrace, CancellationToken.None)).ConfigureAwait(false);
    }

    /// <summary>Stops taking requests (ApplicationStopping, or StopAsync): /health/ready turns 503 so balancers move on,
    /// the queue is closed, and the drain window starts.</summary>
    void Close()
    {
        if (_closed) return;
        _closed = true;
        _queue.Writer.TryComplete();
        try { _stopping.CancelAfter(_drainWindow); }
        catch (ObjectDisposedException) { }
        LogDraining(QueueDepth + Volatile.Read(ref _running), _drainWindow.TotalSeconds);
    }

    void CancelRemaining()
    {
        try { _stopping.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        if (_disposed) return;
        if (_thread is { IsAlive: true })
        {
            Close();
            CancelRemaining();
            _threadDone.Task.Wait(FinishGrace);
        }
        _disposed = true;
        _stopping.Dispose();
        _admissionsOpen.Dispose();
    }

    // ---------------------------------------------------------------- the engine thread

    void RunEngineThread()
    {
        try
        {
            var started = Stopwatch.GetTimestamp();
            var pipeline = _loader.Load();
            _modelTensors = LiveTensorsOfThisThread;
            _pipeline = pipeline;
            var m = pipeline.Model;
            ModelChanged?.Invoke(m);
            LogModelLoaded(m.Name, m.Source, m.Device, m.Dtype, m.Fingerprint, Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (m.IsUntrainedDefault) LogUntrainedDefault(m.Name);
        }
        catch (Exception ex)
        {
            LoadFailure = ex;
            LogLoadFailed(DebugSwitch.IsOn ? ex : null, ErrorText.Describe(ex));
            _threadDone.TrySetResult();
            // Stopping while the host still starts would fail the start with a logged stack trace: stop once it has started
            // (at once if it already has). The service's process then exits with its start-up failure code and line.
            _lifetime.ApplicationStarted.Register(_lifetime.StopApplication);
            return;
        }

        try
        {
            // After Close the loop goes on until the queue is empty (drained) or the drain window ends.
            while (!_stopping.IsCancellationRequested && !(_queue.Reader.Completion.IsCompleted && _deferred.Count == 0))
            {
                ApplySwaps();
                var batch = TakeBatch();
                if (batch.Count > 0) RunBatch(batch);
            }

            var stopped = new EngineStoppingException();
            foreach (var item in DrainAll()) item.Fail(stopped);
            lock (_swapLock) foreach (var swap in _swaps) swap.Done.TrySetException(stopped);
            _pipeline?.Dispose();
        }
        finally { _threadDone.TrySetResult(); }
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
                long before = LiveTensorsOfThisThread;
                var old = _pipeline!;
                var next = swap.Swap(old);
                _pipeline = next;
                if (!ReferenceEquals(old, next)) old.Dispose();
                // The new model's tensors were made on another thread and the old one's are disposed here: this thread's
                // count moves by what the swap did, which is no leak. Without this it went negative after promotions.
                _modelTensors += LiveTensorsOfThisThread - before;
                RecordLiveTensors();
                LogModelSwapped(_pipeline.Model.Fingerprint);
                swap.Done.TrySetResult();
                ModelChanged?.Invoke(next.Model);
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

        var delay = _options.ContinuousBatching ? TimeSpan.Zero : _options.MaxBatchDelay; // continuous: later ones join between steps
        var deadline = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
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
        if (!AdmissionsOpen(wait)) return null;
        foreach (var item in TakeDeferred(_ => true, 1)) return item;
        while (true)
        {
            if (_queue.Reader.TryRead(out var item))
            {
                if (!item.IsAbandoned) return item;
                RequestsLeft?.Invoke();
                continue;
            }
            if (!WaitForQueue(wait) || !AdmissionsOpen(wait)) return null;
        }
    }

    IEnumerable<WorkItem> TakeDeferred(Func<WorkItem, bool> match, int max)
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
        if (dropped) RequestsLeft?.Invoke();
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
        if (_options.ContinuousBatching)
        {
            RunContinuously(items);
            return;
        }
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
        span?.SetTag("dit.sampler", SamplerNames.NameOf(items[0].Request.Sampler));
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
            LogBatchDone(items.Count, SamplerNames.NameOf(items[0].Request.Sampler), items[0].Request.Steps, took.TotalMilliseconds);
        }
        catch (OperationCanceledException) when (batch.Token.IsCancellationRequested)
        {
            LogBatchCancelled(items.Count);
            Exception reason = _stopping.IsCancellationRequested ? new EngineStoppingException() : new OperationCanceledException(batch.Token);
            foreach (var item in items) item.Fail(reason);
        }
        catch (Exception ex)
        {
            span?.SetStatus(ActivityStatusCode.Error);
            LogBatchFailed(ex, items.Count);
            foreach (var item in items) item.Fail(new InvalidOperationException("Generation failed.", ex));
        }
        finally
        {
            RecordLiveTensors();
            Interlocked.Exchange(ref _running, 0); // last: a caller that sees 0 running sees this batch's counters
            RequestsLeft?.Invoke();
        }

        void ReportProgress(int step, int total)
        {
            foreach (var item in items)
                if (!item.IsAbandoned) item.Progress?.Report(new SamplingProgress(step, total));
        }
    }

    static long LiveTensorsOfThisThread => TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    /// <summary>EngineStats.LiveTensors: tensors the engine thread holds beyond the served model (0 unless something leaks).</summary>
    void RecordLiveTensors() => Interlocked.Exchange(ref _liveTensors, LiveTensorsOfThisThread - _modelTensors);

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

    [LoggerMessage(Level = LogLevel.Critical, Message = "Loading the model failed; the service stops: {Reason}")]
    partial void LogLoadFailed(Exception? ex, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: no new requests; draining {Count} queued or running for at most {Seconds:F1} s")]
    partial void LogDraining(int count, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model swapped; now serving fingerprint {Fingerprint}")]
    partial void LogModelSwapped(string fingerprint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Batch of {Count} ({Sampler}, {Steps} steps) took {Ms:F0} ms")]
    partial void LogBatchDone(int count, string sampler, int steps, double ms);

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch of {Count} cancelled: every client left or the service is stopping")]
    partial void LogBatchCancelled(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Batch of {Count} failed")]
    partial void LogBatchFailed(Exception ex, int count);
}
