using DiT.Serving.Engine;
using StackExchange.Redis;

namespace DiT.Api.Promotions;

/// <summary>
/// Makes a promotion reach every replica. The trainer's <see cref="ModelPromoter"/> copies the promoted checkpoint to the
/// shared folder and publishes it (<see cref="PromotionChannel"/>); here every replica subscribes, checks the file and
/// serves it through the same <see cref="ModelPromoter"/>. A replica that starts later applies the latest promotion once
/// its model is loaded, and is not ready before (<see cref="CaughtUp"/>). Without Redis this does nothing and
/// promotions stay local.
/// </summary>
public sealed partial class PromotionFanOut(PromotionChannel channel, PromotionFolder folder, ModelPromoter promoter,
    IImageGenerator engine, ILogger<PromotionFanOut> log) : BackgroundService
{
    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    readonly SemaphoreSlim _applying = new(1, 1);
    readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsEnabled => channel.IsEnabled;

    /// <summary>The latest promotion made before this replica started is served (or there was none, or Redis could not
    /// be asked: a Redis outage must not keep replicas from serving).</summary>
    public bool CaughtUp => !IsEnabled || _caughtUp.Task.IsCompleted;

    /// <summary>Completes when <see cref="CaughtUp"/> turns true.</summary>
    public Task WhenCaughtUp => IsEnabled ? _caughtUp.Task : Task.CompletedTask;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!IsEnabled) return;
        try
        {
            await channel.ConnectAsync();
            while (true)
            {
                try
                {
                    await channel.SubscribeAsync(json => ApplyAsync(json, stoppingToken));
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
            if (await channel.LatestAsync() is { } latest) await ApplyAsync(latest, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception e) when (e is RedisException or TimeoutException) { LogSubscribeFailed(e, 0); }
        finally { _caughtUp.TrySetResult(); }
    }

    async Task ApplyAsync(string json, CancellationToken ct)
    {
        if (PromotionMessage.FromJson(json) is not { } message) { LogIgnored(json.Length); return; }
        if (message.Origin == channel.Origin) return; // the trainer already serves it

        await _applying.WaitAsync(ct);
        try
        {
            if (engine.Model?.Fingerprint == message.Fingerprint) return;
            if (await Task.Run(() => Load(message), ct) is not { } loaded) return;
            if (await promoter.ServeAsync(loaded, message.JobId, publish: false, ct) is { } refused)
            {
                LogApplyFailed(message.JobId, refused);
                return;
            }
            LogApplied(message.JobId, message.Fingerprint);
        }
        catch (Exception e) when (e is OperationCanceledException or EngineStoppingException) { } // stopping
        finally { _applying.Release(); }
    }

    /// <summary>The promoted weights, or null (logged) when the shared file is missing, lies outside the promotions folder
    /// (a message can name any path), differs from what was promoted, or is unreadable.</summary>
    internal LoadedCheckpoint? Load(PromotionMessage message)
    {
        string error;
        if (!File.Exists(message.Checkpoint)) error = "it is not on this replica's shared storage";
        else if (folder.Confine(message.Checkpoint) is not { } checkpoint) error = $"it resolves outside the promotions folder '{folder.Folder}'";
        else if (promoter.TryLoad(checkpoint, message.Fingerprint, out var loaded, out error)) return loaded;
        LogApplyFailed(message.JobId, $"'{message.Checkpoint}': {error}");
        return null;
    }

    public override void Dispose()
    {
        _applying.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subscribing to promotions failed; retrying in {Seconds} s (0: giving up)")]
    partial void LogSubscribeFailed(Exception e, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a promotion message that is not ours ({Length} chars)")]
    partial void LogIgnored(int length);

    [LoggerMessage(Level = LogLevel.Information, Message = "Promotion of job {JobId} applied: now serving {Fingerprint}")]
    partial void LogApplied(string jobId, string fingerprint);

    [LoggerMessage(Level = LogLevel.Error, Message = "Promotion of job {JobId} not applied on this replica: {Reason}; it keeps serving its current weights")]
    partial void LogApplyFailed(string jobId, string reason);
}
