using DiT.Api.Options;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DiT.Api.Generations.Shared;

/// <summary>
/// This replica's connection to the shared queue: one multiplexer (it reconnects, and resubscribes, on its own), the key
/// scheme, and the "job changed" subscription, fanned out to the local readers waiting on a job (event streams,
/// Prefer: wait, cancels). Off when neither Generations:RedisConnectionString nor Cache:RedisConnectionString is set.
/// </summary>
public sealed class RedisJobConnection : IDisposable
{
    readonly Lock _lock = new();
    readonly Dictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    readonly string? _connectionString;
    readonly int _timeoutMs;
    Task<ConnectionMultiplexer>? _redis;
    Task? _subscribed;

    public RedisJobConnection(IOptions<GenerationsOptions> options, IOptions<CacheOptions> cache)
    {
        var o = options.Value;
        _connectionString = o.RedisConnectionString ?? cache.Value.RedisConnectionString; // "" (set empty) keeps jobs local
        _timeoutMs = o.RedisTimeoutMs;
        Keys = new RedisJobKeys(o.RedisKeyPrefix);
    }

    public bool IsEnabled => !string.IsNullOrWhiteSpace(_connectionString);

    public RedisJobKeys Keys { get; }

    /// <summary>The database; throws <see cref="JobStoreUnavailableException"/> while Redis cannot be reached.</summary>
    public async Task<IDatabase> DatabaseAsync()
    {
        ConnectionMultiplexer redis;
        try { redis = await ConnectAsync(); }
        catch (Exception e) when (e is RedisException or TimeoutException) { throw Unavailable(e); }
        if (!redis.IsConnected) throw Unavailable(null);
        return redis.GetDatabase();
    }

    public Task<ConnectionMultiplexer> ConnectAsync()
    {
        lock (_lock)
            return _redis ??= Connect();

        Task<ConnectionMultiplexer> Connect()
        {
            var config = ConfigurationOptions.Parse(_connectionString!);
            config.AbortOnConnectFail = false; // keeps reconnecting in the background; a dead Redis must not hold start-up
            config.ConnectTimeout = config.SyncTimeout = config.AsyncTimeout = _timeoutMs;
            return ConnectionMultiplexer.ConnectAsync(config);
        }
    }

    /// <summary>Runs a Redis call, turning a Redis failure into <see cref="JobStoreUnavailableException"/>.</summary>
    public async Task<T> CallAsync<T>(Func<IDatabase, Task<T>> call)
    {
        var db = await DatabaseAsync();
        try { return await call(db); }
        catch (Exception e) when (e is RedisException or TimeoutException) { throw Unavailable(e); }
    }

    /// <summary>Completes at the next change of job <paramref name="id"/> published after this call (register, then read,
    /// then await: nothing falls in between).</summary>
    public async Task<Task> NextChangeAsync(string id)
    {
        await SubscribeAsync();
        lock (_lock)
        {
            if (!_waiters.TryGetValue(id, out var waiter))
                _waiters[id] = waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return waiter.Task;
        }
    }

    Task SubscribeAsync()
    {
        lock (_lock)
            return _subscribed is { IsFaulted: false, IsCanceled: false } subscribing ? subscribing : _subscribed = Subscribe();

        async Task Subscribe()
        {
            var redis = await ConnectAsync();
            try { await redis.GetSubscriber().SubscribeAsync(Keys.Changed, (_, id) => Changed(id.ToString())); }
            catch (Exception e) when (e is RedisException or TimeoutException) { throw Unavailable(e); }
        }
    }

    void Changed(string id)
    {
        TaskCompletionSource? waiter;
        lock (_lock)
            if (_waiters.Remove(id, out waiter)) { } // the next reader registers anew
        waiter?.TrySetResult();
    }

    static JobStoreUnavailableException Unavailable(Exception? inner) =>
        new("The shared generation job store (Redis) cannot be reached.", inner);

    public void Dispose()
    {
        if (_redis is { IsCompletedSuccessfully: true } redis) redis.Result.Dispose();
    }
}
