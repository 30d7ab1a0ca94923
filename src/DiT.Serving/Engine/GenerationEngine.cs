using System.Diagnostics;
using DiT.Serving.Options;
using DiT.Serving.Startup;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DiT.Serving.Engine;

/// <summary>
/// The inference engine: one dedicated thread owns every tensor. Its parts, one job each: <see cref="RequestQueue"/>
/// (admission: the bounded queue, holds, batches of compatible requests), <see cref="SamplingLoop"/> (the stepping loop
/// of both kinds of batching), <see cref="ServedPipeline"/> (the model and its swaps, applied between loops) and
/// <see cref="EngineCounters"/> (stats). This class wires them to callers and to the host.
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
    readonly CancellationTokenSource _stopping = new(); // the drain window is over: stop the loop, fail the rest
    readonly TaskCompletionSource _threadDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly RequestQueue _queue;
    readonly ServedPipeline _served;
    readonly EngineCounters _counters;
    readonly SamplingLoop _loop;
    volatile bool _closed; // the service is stopping: no new requests
    bool _disposed;
    Thread? _thread;

    public GenerationEngine(IPipelineLoader loader, IOptions<EngineOptions> options, DiTTelemetry telemetry,
        ILogger<GenerationEngine> log, IHostApplicationLifetime lifetime, IOptions<HostOptions> host)
    {
        _loader = loader;
        _options = options.Value;
        _telemetry = telemetry;
        _log = log;
        _lifetime = lifetime;
        _drainWindow = DrainWindow(host.Value.ShutdownTimeout);
        _queue = new RequestQueue(_options.QueueCapacity, _stopping.Token, () => RequestsLeft?.Invoke());
        _served = new ServedPipeline(log);
        _served.Changed += model => ModelChanged?.Invoke(model);
        _counters = new EngineCounters(telemetry);
        _loop = new SamplingLoop(_options.MaxBatchSize, _counters, telemetry, log, _stopping.Token, () => RequestsLeft?.Invoke());
        telemetry.ObserveQueueDepth(() => _queue.Depth);
        lifetime.ApplicationStopping.Register(Close);
    }

    /// <summary>The shutdown timeout less 10% (at most 5 s) for the last answers to be written before the host gives up.</summary>
    public static TimeSpan DrainWindow(TimeSpan shutdownTimeout) => shutdownTimeout <= TimeSpan.Zero ? Timeout.InfiniteTimeSpan
        : shutdownTimeout - TimeSpan.FromTicks(Math.Min(shutdownTimeout.Ticks / 10, TimeSpan.FromSeconds(5).Ticks));

    public bool IsReady => _served.Current is not null && !_closed && !_stopping.IsCancellationRequested;

    /// <summary>Why the model could not be loaded at start (the service then stops), or null.</summary>
    public Exception? LoadFailure { get; private set; }
    public ServedModel? Model => _served.Current?.Model;

    /// <summary>Raised on the engine thread whenever a model starts serving (the first load and every swap).</summary>
    public event Action<ServedModel>? ModelChanged;

    /// <summary>Raised on the engine thread whenever requests have left the engine: after each sampling loop, once its
    /// requests are answered and <see cref="Stats"/> is up to date, and after dropping queued requests whose callers left.</summary>
    public event Action? RequestsLeft;

    /// <summary>Fires when the shutdown drain window is over: the running loop stops and what is left fails.</summary>
    public CancellationToken DrainWindowEnded => _stopping.Token;

    /// <summary>
    /// Holds new work until the returned handle is disposed: no loop starts and no row joins one (rows in flight keep
    /// stepping), while requests queue as usual. Lining several requests up under a hold and releasing them makes them
    /// share their first step, whatever the machine's speed: what the tests use instead of waiting for a batch to fill.
    /// </summary>
    public IDisposable HoldAdmissions() => _queue.Hold();

    public EngineStats Stats => _counters.Snapshot(_queue.Depth, _options.QueueCapacity, _options.MaxBatchSize);

    // ---------------------------------------------------------------- callers' side

    public async Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<SamplingProgress>? progress, CancellationToken ct)
    {
        if (_closed) throw new EngineStoppingException();
        if (!IsReady) throw new EngineUnavailableException("The model is not loaded yet.");
        ct.ThrowIfCancellationRequested();
        var item = new WorkItem(request, progress, Activity.Current?.Context ?? default);
        if (!_queue.TryEnqueue(item))
        {
            if (_closed) throw new EngineStoppingException();
            _counters.Rejected();
            throw new QueueFullException(_options.QueueCapacity);
        }
        item.CancelWith(ct);
        RowResult row;
        try { row = await item.Completion; }
        catch (OperationCanceledException)
        {
            _counters.Cancelled();
            throw;
        }
        _telemetry.CountModelPasses(row.Image.Passes);
        return new GeneratedImage(row.Image, row.Fingerprint, row.QueueTime, row.GenerateTime, row.BatchSize);
    }

    /// <summary>
    /// Serves <paramref name="model"/> from the next sampling loop on (rows in flight finish on the old weights). The
    /// engine takes ownership: it moves the model to its device and dtype, disposes it when it is replaced, and the caller
    /// must not use it afterwards. The model must keep the served input size, channels and classes (else the task fails
    /// with ArgumentException and the old model stays). <paramref name="fingerprint"/> names the weights in /model, in the
    /// X-Model-Fingerprint header and in cache keys, so it must change whenever the weights do.
    /// </summary>
    public Task SwapModelAsync(DiT.Model.DiTModel model, string fingerprint, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(fingerprint);
        return SwapPipelineAsync(old => old.WithModel(model, fingerprint), ct);
    }

    /// <summary>
    /// Replaces the served pipeline between sampling loops: rows in flight finish on the old weights (no new row joins
    /// while a swap waits); the task completes once the new pipeline serves (and the old one is disposed).
    /// <paramref name="swap"/> runs on the engine thread, receives the current pipeline and returns its replacement.
    /// </summary>
    public Task SwapPipelineAsync(Func<IBatchPipeline, IBatchPipeline> swap, CancellationToken ct = default) => _served.Request(swap, ct);

    // ---------------------------------------------------------------- hosting

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _thread = new Thread(RunEngineThread) { IsBackground = true, Name = "dit-engine" };
        _thread.Start();
        return Task.CompletedTask;
    }

    /// <summary>Drains: the engine thread finishes what is queued and ends; when <paramref name="cancellationToken"/>
    /// (the host's shutdown timeout) fires first, the running loop stops and the rest fail with EngineStoppingException.</summary>
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
        CancelRemaining(); // the running loop stops at its next step and the rest fail; a moment for that
        await Task.WhenAny(_threadDone.Task, Task.Delay(FinishGrace, CancellationToken.None)).ConfigureAwait(false);
    }

    /// <summary>Stops taking requests (ApplicationStopping, or StopAsync): /health/ready turns 503 so balancers move on,
    /// the queue is closed, and the drain window starts.</summary>
    void Close()
    {
        if (_closed) return;
        _closed = true;
        _queue.Close();
        try { _stopping.CancelAfter(_drainWindow); }
        catch (ObjectDisposedException) { }
        LogDraining(_queue.Depth + Stats.RunningRequests, _drainWindow.TotalSeconds);
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
        _queue.Dispose();
    }

    // ---------------------------------------------------------------- the engine thread

    void RunEngineThread()
    {
        try { _served.Load(_loader); }
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
            // Whole batching waits MaxBatchDelay to fill a batch; continuous starts at once and lets later ones join.
            var fillDelay = _options.ContinuousBatching ? TimeSpan.Zero : _options.MaxBatchDelay;
            Func<WorkItem?>? admitNext = _options.ContinuousBatching ? AdmitBetweenSteps : null;
            // After Close the loop goes on until the queue is drained or the drain window ends.
            while (!_stopping.IsCancellationRequested && !_queue.IsDrained)
            {
                if (_served.ApplyPending()) _counters.LiveTensorsNow(LiveTensors.OfThisThread - _served.ModelTensors);
                var first = _queue.TakeBatch(_options.MaxBatchSize, fillDelay, IdlePoll);
                if (first.Count > 0) _loop.Run(_served.Current!, first, admitNext, _served.ModelTensors);
            }

            var stopped = new EngineStoppingException();
            foreach (var item in _queue.DrainAll()) item.Fail(stopped);
            _served.FailPending(stopped);
            _served.Dispose();
        }
        finally { _threadDone.TrySetResult(); }
    }

    /// <summary>Continuous batching: the next waiting request, unless a swap waits (the rows in flight finish first).</summary>
    WorkItem? AdmitBetweenSteps() => _served.HasPendingSwap ? null : _queue.NextLive(TimeSpan.Zero);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Loading the model failed; the service stops: {Reason}")]
    partial void LogLoadFailed(Exception? ex, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: no new requests; draining {Count} queued or running for at most {Seconds:F1} s")]
    partial void LogDraining(int count, double seconds);
}
