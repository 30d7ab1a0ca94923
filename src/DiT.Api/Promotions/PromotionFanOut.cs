using System.Text.Json;
using DiT.Api.Options;
using DiT.Api.Training;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Model.IO;
using DiT.Serving.Engine;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DiT.Api.Promotions;

/// <summary>
/// Makes a promotion reach every replica. The trainer replica copies the promoted checkpoint to the shared folder, keeps
/// the message under "&lt;Channel&gt;:latest" and publishes it on the channel; every replica subscribes, checks the file's
/// fingerprint, loads it and swaps it into its engine between batches. A replica that starts later applies the latest
/// promotion once its model is loaded, and is not ready before (<see cref="CaughtUp"/>). Without Redis this does nothing
/// and promotions stay local.
/// </summary>
public sealed partial class PromotionFanOut(
    IOptions<PromotionOptions> options, IOptions<CacheOptions> cache, IOptions<TrainingJobsOptions> training,
    GenerationEngine engine, ServedWeights served, ILogger<PromotionFanOut> log) : BackgroundService
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    readonly PromotionOptions _options = options.Value;
    readonly string _origin = Guid.NewGuid().ToString("N");
    readonly SemaphoreSlim _applying = new(1, 1);
    readonly Lock _lock = new();
    Task<ConnectionMultiplexer>? _redis;
    readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    string? ConnectionString => string.IsNullOrWhiteSpace(_options.RedisConnectionString) ? cache.Value.RedisConnectionString : _options.RedisConnectionString;
    public bool IsEnabled => !string.IsNullOrWhiteSpace(ConnectionString);

    /// <summary>The latest promotion made before this replica started is served (or there was none, or Redis could not
    /// be asked: a Redis outage must not keep replicas from serving).</summary>
    public bool CaughtUp => !IsEnabled || _caughtUp.Task.IsCompleted;

    /// <summary>Completes when <see cref="CaughtUp"/> turns true.</summary>
    public Task WhenCaughtUp => IsEnabled ? _caughtUp.Task : Task.CompletedTask;
    RedisChannel Channel => RedisChannel.Literal(_options.Channel);
    RedisKey LatestKey => _options.Channel + ":latest";
    string Folder => string.IsNullOrWhiteSpace(_options.Folder) ? Path.Combine(training.Value.JobsFolder, "promoted") : _options.Folder;

    // ---------------------------------------------------------------- trainer side

    /// <summary>Tells every replica to serve <paramref name="promotion"/> (already served here). Returns how many
    /// subscribers got the message (this replica included), or null when fan-out is off or failed (logged).</summary>
    public async Task<long?> PublishAsync(ServedWeights.Promotion promotion, CancellationToken ct)
    {
        if (!IsEnabled) return null;
        try
        {
            var shared = await Task.Run(() => CopyToShared(promotion), ct);
            var json = JsonSerializer.Serialize(new PromotionMessage(shared, promotion.Fingerprint, promotion.JobId, _origin), Json);
            var redis = await ConnectAsync();
            await redis.GetDatabase().StringSetAsync(LatestKey, json);
            var receivers = await redis.GetSubscriber().PublishAsync(Channel, json);
            LogPublished(promotion.JobId, promotion.Fingerprint, shared, receivers);
            return receivers;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException or UnauthorizedAccessException)
        {
            LogPublishFailed(e, promotion.JobId);
            return null;
        }
    }

    /// <summary>A job keeps only its last few checkpoints, so the promoted one is copied (once, atomically) where it stays.</summary>
    string CopyToShared(ServedWeights.Promotion promotion)
    {
        var folder = Directory.CreateDirectory(Path.GetFullPath(Folder)).FullName;
        var target = Path.Combine(folder, $"{promotion.Fingerprint}.safetensors");
        if (RegularFile.Is(target) && Confine(target) is not null) return target; // else replaced: a link planted there is not followed

        var temp = $"{target}.{_origin}.tmp";
        File.Copy(promotion.Checkpoint, temp, overwrite: true);
        File.Move(temp, target, overwrite: true);
        return target;
    }

    // ---------------------------------------------------------------- every replica

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!IsEnabled) return;
        try
        {
            var redis = await ConnectAsync();
            while (true)
            {
                try
                {
                    var queue = await redis.GetSubscriber().SubscribeAsync(Channel);
                    queue.OnMessage(message => ApplyAsync(message.Message.ToString(), stoppingToken));
                    break;
                }
                catch (RedisException e)
                {
                    _caughtUp.TrySetResult(); // serve what we have; promotions arrive once subscribed
                    LogSubscribeFailed(e, RetryDelay.TotalSeconds);
                    await Task.Delay(RetryDelay, stoppingToken);
                }
            }
            // Subscribed first, then the catch-up: no promotion can fall between the two.
            while (engine.Model is null) await Task.Delay(100, stoppingToken);
            var latest = await redis.GetDatabase().StringGetAsync(LatestKey);
            if (latest.HasValue) await ApplyAsync(latest.ToString(), stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception e) when (e is RedisException or TimeoutException) { LogSubscribeFailed(e, 0); }
        finally { _caughtUp.TrySetResult(); }
    }

    async Task ApplyAsync(string json, CancellationToken ct)
    {
        PromotionMessage? message;
        try { message = JsonSerializer.Deserialize<PromotionMessage>(json, Json); }
        catch (JsonException) { message = null; }
        if (message is null) { LogIgnored(json.Length); return; }
        if (message.Origin == _origin) return; // the trainer already serves it

        await _applying.WaitAsync(ct);
        try
        {
            if (engine.Model?.Fingerprint == message.Fingerprint) return;
            var model = await Task.Run(() => Load(message), ct);
            if (model is null) return;
            try { await engine.SwapModelAsync(model, message.Fingerprint, ct); }
            catch (ArgumentException e)
            {
                model.Dispose();
                LogApplyFailed(message.JobId, e.Message);
                return;
            }
            served.Record(new ServedWeights.Promotion(message.Checkpoint, message.Fingerprint, message.JobId));
            LogApplied(message.JobId, message.Fingerprint);
        }
        catch (Exception e) when (e is OperationCanceledException or EngineStoppingException) { } // stopping
        finally { _applying.Release(); }
    }

    /// <summary>The promoted weights, or null (logged) when the shared file is missing, lies outside the promotions folder
    /// (a message can name any path), differs from what was promoted, or is unreadable.</summary>
    internal DiTModel? Load(PromotionMessage message)
    {
        try
        {
            if (!File.Exists(message.Checkpoint)) { LogApplyFailed(message.JobId, $"'{message.Checkpoint}' is not on this replica's shared storage"); return null; }
            if (Confine(message.Checkpoint) is not { } checkpoint) { LogApplyFailed(message.JobId, $"'{message.Checkpoint}' resolves outside the promotions folder '{Folder}'"); return null; }
            var local = PipelineLoader.FileFingerprint(checkpoint);
            if (local != message.Fingerprint) { LogApplyFailed(message.JobId, $"'{message.Checkpoint}' has fingerprint {local}, not {message.Fingerprint}"); return null; }
            return DiTCheckpoint.Load(checkpoint);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or CheckpointMismatchException)
        {
            LogApplyFailed(message.JobId, e.Message);
            return null;
        }
    }

    /// <summary>The real path of a promoted file, or null when it (or a link along it) lies outside the promotions folder.</summary>
    string? Confine(string path) => new PathRoots([Folder]).Resolve(path);

    Task<ConnectionMultiplexer> ConnectAsync()
    {
        lock (_lock)
            return _redis ??= Connect();

        Task<ConnectionMultiplexer> Connect()
        {
            var config = ConfigurationOptions.Parse(ConnectionString!);
            config.AbortOnConnectFail = false; // keeps reconnecting (and resubscribing) in the background
            config.ConnectTimeout = config.SyncTimeout = config.AsyncTimeout = cache.Value.RedisTimeoutMs; // a dead Redis must not hold start-up
            return ConnectionMultiplexer.ConnectAsync(config);
        }
    }

    public override void Dispose()
    {
        if (_redis is { IsCompletedSuccessfully: true } redis) redis.Result.Dispose();
        _applying.Dispose();
        base.Dispose();
    }

    // ---------------------------------------------------------------- logs

    [LoggerMessage(Level = LogLevel.Information, Message = "Promotion of job {JobId} ({Fingerprint}, {Checkpoint}) published to {Receivers} subscribers, this replica included")]
    partial void LogPublished(string jobId, string fingerprint, string checkpoint, long receivers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Promotion of job {JobId} is served here but could not be published to the other replicas")]
    partial void LogPublishFailed(Exception e, string jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subscribing to promotions failed; retrying in {Seconds} s (0: giving up)")]
    partial void LogSubscribeFailed(Exception e, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a promotion message that is not ours ({Length} chars)")]
    partial void LogIgnored(int length);

    [LoggerMessage(Level = LogLevel.Information, Message = "Promotion of job {JobId} applied: now serving {Fingerprint}")]
    partial void LogApplied(string jobId, string fingerprint);

    [LoggerMessage(Level = LogLevel.Error, Message = "Promotion of job {JobId} not applied on this replica: {Reason}; it keeps serving its current weights")]
    partial void LogApplyFailed(string jobId, string reason);
}
