using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DiT.Api.Generations.Shared;

/// <summary>
/// This replica's consumer of the shared queue. It pulls: it takes one job at a time, and only while its engine has room
/// (fewer than Engine:MaxBatchSize images and Generations:MaxRunningJobs jobs of its own in flight), first a job whose
/// claim has lapsed (XAUTOCLAIM: its replica died, or handed it back), else a new one (XREADGROUP). A run renews its claim
/// every ClaimTimeout/3; its writes are fenced by the attempt it started (see <see cref="RedisJobScripts"/>). A failed run
/// is handed back (after Generations:MaxAttempts failures the job ends failed); a run stopped by shutdown is handed back
/// at once, without counting as a failure.
/// </summary>
public sealed partial class RedisJobWorker(RedisJobConnection redis, JobRendering rendering, JobEnds ends, GenerationsValidator validator,
    IImageGenerator engine, IOptions<GenerationsOptions> options, IOptions<EngineOptions> engineOptions, TimeProvider time,
    DiTTelemetry telemetry, ILogger<RedisJobWorker> log) : BackgroundService
{
    static readonly TimeSpan StoreRetry = TimeSpan.FromSeconds(1);

    readonly GenerationsOptions _options = options.Value;
    readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    readonly ConcurrentDictionary<string, RedisRunningJob> _running = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<Task, bool> _runs = new();
    readonly CancellationTokenSource _disposing = new();
    readonly Lock _lock = new();
    int _rows, _jobs;
    RedisValue _cursor = "0-0";
    bool _groupReady, _subscribed;
    volatile bool _abandoned;
    long _done, _discarded, _streamLength;
    IReadOnlyList<Measurement<long>> _pending = [];

    /// <summary>This replica's consumer name in the group (unique per process start).</summary>
    public string Name { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Jobs this replica ended (committed first), and late results it discarded.</summary>
    public long Done => Interlocked.Read(ref _done);
    public long Discarded => Interlocked.Read(ref _discarded);

    /// <summary>Raised when a run starts here (job id), when one ends here, when a late result is discarded, and when storing
    /// a result failed and will be retried (tests wait on these).</summary>
    public event Action<string>? Started, Ended, DiscardedResult, StoreFailed;

    RedisJobKeys Keys => redis.Keys;
    bool HasRoom
    {
        get { lock (_lock) return _jobs < _options.MaxRunningJobs && _rows < engineOptions.Value.MaxBatchSize; }
    }

    /// <summary>A job was submitted through this replica: look for work now.</summary>
    public void Submitted() => _wake.Writer.TryWrite(true);

    /// <summary>For failure tests: act as a replica that froze or lost its network. It takes no more jobs, stops renewing its
    /// claims and hands nothing back; runs already going still finish and offer their results, which are discarded once
    /// another replica has taken the job over.</summary>
    public void Abandon() => _abandoned = true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!redis.IsEnabled) return;
        telemetry.ObserveSharedQueue(() => Interlocked.Read(ref _streamLength), () => _pending);
        var renewing = RenewAsync(stoppingToken);
        try { await TakeAsync(stoppingToken); }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        // Graceful stop: the runs see the stopping token, hand their jobs back at once, and are awaited here.
        await Task.WhenAll(_runs.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await renewing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // ---------------------------------------------------------------- taking jobs

    async Task TakeAsync(CancellationToken stopping)
    {
        var tick = _options.ClaimTimeout / 3;
        while (true)
        {
            stopping.ThrowIfCancellationRequested();
            if (!engine.IsReady) // starting up (as PromotionFanOut waits for the model): no work can be taken yet
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, stopping);
                continue;
            }
            if (!_abandoned && HasRoom)
            {
                (StreamEntry Entry, bool Claimed)? taken = null;
                try { taken = await NextEntryAsync(); }
                catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { LogTakeFailed(e); }
                if (taken is { } next)
                {
                    Launch(next.Item1, next.Item2, stopping);
                    continue;
                }
            }
            // Woken by a submit (here or on another replica), a run's end here, or the tick that looks for lapsed claims.
            await Task.WhenAny(_wake.Reader.ReadAsync(stopping).AsTask(), Task.Delay(tick, time, stopping));
        }
    }

    async Task<(StreamEntry, bool)?> NextEntryAsync()
    {
        var db = await redis.DatabaseAsync();
        await SetUpAsync(db);
        var claimed = await db.StreamAutoClaimAsync(Keys.Stream, RedisJobKeys.Group, Name, (long)_options.ClaimTimeout.TotalMilliseconds, _cursor, 1);
        _cursor = claimed.NextStartId; // "0-0" once the whole pending list was scanned
        foreach (var lapsed in claimed.ClaimedEntries.Where(IsJob))
        {
            telemetry.JobClaims.Add(1);
            return (lapsed, true);
        }
        var read = await db.StreamReadGroupAsync(Keys.Stream, RedisJobKeys.Group, Name, StreamPosition.NewMessages, 1);
        return read.Where(IsJob).Select(e => ((StreamEntry, bool)?)(e, false)).FirstOrDefault();

        static bool IsJob(StreamEntry e) => !e.IsNull && e["id"].HasValue;
    }

    async Task SetUpAsync(IDatabase db)
    {
        if (!_groupReady)
        {
            try { await db.StreamCreateConsumerGroupAsync(Keys.Stream, RedisJobKeys.Group, StreamPosition.Beginning, createStream: true); }
            catch (RedisServerException e) when (e.Message.Contains("BUSYGROUP", StringComparison.Ordinal)) { } // another replica made it
            _groupReady = true;
        }
        if (!_subscribed)
        {
            var subscriber = (await redis.ConnectAsync()).GetSubscriber();
            await subscriber.SubscribeAsync(Keys.Submitted, (_, _) => _wake.Writer.TryWrite(true));
            await subscriber.SubscribeAsync(Keys.Cancels, (_, id) =>
            {
                if (_running.TryGetValue(id.ToString(), out var job)) job.Cancel();
            });
            _subscribed = true;
        }
    }

    void Launch(StreamEntry entry, bool claimed, CancellationToken stopping)
    {
        lock (_lock) { _jobs++; _rows++; } // one row until its n is known
        var run = RunAsync(entry.Id, entry["id"].ToString(), claimed, stopping);
        _runs[run] = true;
        run.ContinueWith(t => _runs.TryRemove(t, out _), TaskScheduler.Default);
    }

    // ---------------------------------------------------------------- running one

    async Task RunAsync(RedisValue entry, string id, bool claimed, CancellationToken stopping)
    {
        await Task.Yield(); // the taker goes on at once
        int rows = 1;
        try
        {
            var db = await redis.DatabaseAsync();
            var started = (RedisResult[])(await db.ScriptEvaluateAsync(RedisJobScripts.Start, [Keys.Job(id), Keys.Stream],
                [entry, Name, Now, _options.MaxAttempts, RetentionSeconds, Keys.Changed.ToString(), id, Keys.Prefix]))!;
            var state = started[0].ToString();
            if (state != "started")
            {
                if (state is "cancelled" or "failed") await EndedHereAsync(id); // ended by this start: its webhook goes from here
                return;
            }
            var hash = await db.HashGetAllAsync(Keys.Job(id));
            var spec = RedisJobState.Read(id, hash, validator, engine.Model ?? throw new EngineUnavailableException("no model"), _options.Retention)!.Spec;
            lock (_lock) _rows += spec.Count - rows;
            rows = spec.Count;
            var job = new RedisRunningJob(redis, id, entry, (long)started[1], spec);
            _running[id] = job;
            if (claimed) LogClaimed(id, job.Attempt);
            if (await db.HashGetAsync(Keys.Job(id), "cancel") == "1") job.Cancel(); // a cancel published before we listened
            Started?.Invoke(id);
            JobRun run;
            try { run = await rendering.RunAsync(id, spec, job, job.Cancellation, stopping); }
            finally
            {
                await job.StopFlushingAsync();
                _running.TryRemove(id, out _);
            }
            await FinishAsync(job, run);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException or EngineUnavailableException)
        {
            LogRunFailed(e, id); // not acknowledged: its claim lapses and a replica takes it again
        }
        finally
        {
            lock (_lock) { _jobs--; _rows -= rows; }
            _wake.Writer.TryWrite(true);
        }
    }

    async Task FinishAsync(RedisRunningJob job, JobRun run)
    {
        if (run.Stopped || (job.Lost && run.Status == JobStatus.Cancelled && !job.Cancellation.IsCancellationRequested))
        {
            if (!_abandoned && !job.Lost) await HandBackAsync(job, failed: false, "");
            return;
        }
        if (run.Status == JobStatus.Failed)
        {
            var reason = $"replica {Name} could not make an image of it";
            switch (await StoreAsync(job, db => db.ScriptEvaluateAsync(RedisJobScripts.HandBack, [Keys.Job(job.Id), Keys.Stream],
                [job.Attempt, job.Entry, 1, reason, _options.MaxAttempts, Now, RetentionSeconds, Keys.Changed.ToString(), job.Id, Keys.Prefix,
                 HandBackIdleMs, Keys.Submitted.ToString()])))
            {
                case 1: telemetry.JobRetries.Add(1); LogRetried(job.Id, reason); break;
                case 2: Count(run.Status); await EndedHereAsync(job.Id); break;
                default: Discard(job); break;
            }
            return;
        }
        var (steps, images) = job.Result();
        RedisValue[] args =
        [
            job.Attempt, job.Entry, run.Status.ToString().ToLowerInvariant(),
            run.Error is null ? "" : System.Text.Json.JsonSerializer.Serialize(run.Error, System.Text.Json.JsonSerializerOptions.Web),
            Now, RetentionSeconds, Keys.Changed.ToString(), job.Id, Keys.Prefix, steps,
            .. images.SelectMany(i => new RedisValue[] { i.Image.Index, RedisRunningJob.Meta(i.Image), i.File }),
        ];
        if (await StoreAsync(job, db => db.ScriptEvaluateAsync(RedisJobScripts.Commit, [Keys.Job(job.Id), Keys.Stream], args)) == 1)
        {
            Count(run.Status);
            await EndedHereAsync(job.Id);
        }
        else Discard(job);
    }

    /// <summary>Hands a run back so another replica starts it at once (shutdown), not after the claim timeout.</summary>
    async Task HandBackAsync(RedisRunningJob job, bool failed, string reason)
    {
        try
        {
            var db = await redis.DatabaseAsync();
            await db.ScriptEvaluateAsync(RedisJobScripts.HandBack, [Keys.Job(job.Id), Keys.Stream],
                [job.Attempt, job.Entry, failed ? 1 : 0, reason, _options.MaxAttempts, Now, RetentionSeconds, Keys.Changed.ToString(), job.Id,
                 Keys.Prefix, HandBackIdleMs, Keys.Submitted.ToString()]);
            LogHandedBack(job.Id);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { LogRunFailed(e, job.Id); } // its claim lapses instead
    }

    /// <summary>Runs a fenced write until Redis takes it (a Redis outage does not lose a finished job); its result, 0 when fenced out.</summary>
    async Task<int> StoreAsync(RedisRunningJob job, Func<IDatabase, Task<RedisResult>> write)
    {
        while (true)
        {
            try { return (int)await write(await redis.DatabaseAsync()); }
            catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException)
            {
                LogStoreRetry(e, job.Id, StoreRetry.TotalSeconds);
                StoreFailed?.Invoke(job.Id);
                try { await Task.Delay(StoreRetry, time, _disposing.Token); }
                catch (OperationCanceledException) { return 0; } // the process is going away: its claim lapses, another replica runs it
            }
        }
    }

    void Count(JobStatus status)
    {
        Interlocked.Increment(ref _done);
        telemetry.JobsDone.Add(1, new KeyValuePair<string, object?>("replica", Name), new KeyValuePair<string, object?>("status", status.ToString().ToLowerInvariant()));
    }

    void Discard(RedisRunningJob job)
    {
        Interlocked.Increment(ref _discarded);
        telemetry.JobsDiscarded.Add(1);
        LogDiscarded(job.Id, job.Attempt);
        DiscardedResult?.Invoke(job.Id);
    }

    /// <summary>The once-per-job end work (count, log, webhook) for a job that ended on this replica.</summary>
    public async Task EndedHereAsync(string id)
    {
        try
        {
            var hash = await (await redis.DatabaseAsync()).HashGetAllAsync(Keys.Job(id));
            if (engine.Model is { } model && RedisJobState.Read(id, hash, validator, model, _options.Retention) is { } snapshot)
                ends.Ended(snapshot, state => _ = RecordWebhookAsync(id, state));
        }
        catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { LogRunFailed(e, id); }
        Ended?.Invoke(id);
    }

    /// <summary>For a cancel of a queued job, ended by the replica that took the DELETE.</summary>
    public void EndedHere(JobSnapshot snapshot) => ends.Ended(snapshot, state => _ = RecordWebhookAsync(snapshot.Id, state));

    async Task RecordWebhookAsync(string id, DiT.Api.Webhooks.WebhookState state)
    {
        try
        {
            var json = System.Text.Json.JsonSerializer.Serialize(state, System.Text.Json.JsonSerializerOptions.Web);
            await (await redis.DatabaseAsync()).ScriptEvaluateAsync(RedisJobScripts.Webhook, [Keys.Job(id)], [json, Keys.Changed.ToString(), id]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { LogRunFailed(e, id); }
    }

    // ---------------------------------------------------------------- claims and metrics

    /// <summary>Every ClaimTimeout/3: renews this replica's claims (a run another replica took over is stopped here), reads
    /// the queue's length and pending counts for the gauges, and wakes the taker to look for lapsed claims.</summary>
    async Task RenewAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_options.ClaimTimeout / 3, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                _wake.Writer.TryWrite(true);
                if (_abandoned) continue;
                try
                {
                    var db = await redis.DatabaseAsync();
                    foreach (var job in _running.Values)
                        if ((int)await db.ScriptEvaluateAsync(RedisJobScripts.Renew, [Keys.Job(job.Id), Keys.Stream], [job.Attempt, Name, job.Entry]) == 0)
                            job.Lose();
                    Interlocked.Exchange(ref _streamLength, await db.StreamLengthAsync(Keys.Stream));
                    if (_groupReady)
                    {
                        var pending = await db.StreamPendingAsync(Keys.Stream, RedisJobKeys.Group);
                        _pending = [.. pending.Consumers.Select(c => new Measurement<long>(c.PendingMessageCount, new KeyValuePair<string, object?>("consumer", c.Name.ToString())))];
                    }
                }
                catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { LogTakeFailed(e); }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    string Now => RedisJobState.Time(time.GetUtcNow());
    long RetentionSeconds => (long)Math.Ceiling(_options.Retention.TotalSeconds);
    long HandBackIdleMs => (long)_options.ClaimTimeout.TotalMilliseconds + 1; // claimable at once

    public override void Dispose()
    {
        try { _disposing.Cancel(); } // (disposed once per registration: as the singleton and as the hosted service)
        catch (ObjectDisposedException) { }
        base.Dispose();
    }

    // ---------------------------------------------------------------- logs

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking a shared generation job failed; trying again shortly")]
    partial void LogTakeFailed(Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shared generation job {JobId}: Redis failed mid-run; the job's claim will lapse and it runs again")]
    partial void LogRunFailed(Exception e, string jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shared generation job {JobId}: claimed from a lapsed replica (attempt {Attempt})")]
    partial void LogClaimed(string jobId, long attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shared generation job {JobId}: {Reason}; handed back to be tried again")]
    partial void LogRetried(string jobId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shared generation job {JobId}: handed back (this replica is stopping)")]
    partial void LogHandedBack(string jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shared generation job {JobId}: storing the result failed; retrying in {Seconds} s")]
    partial void LogStoreRetry(Exception e, string jobId, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shared generation job {JobId}: result of attempt {Attempt} discarded, another replica took the job over")]
    partial void LogDiscarded(string jobId, long attempt);
}
