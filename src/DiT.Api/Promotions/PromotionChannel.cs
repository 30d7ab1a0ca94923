using DiT.Api.Options;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DiT.Api.Promotions;

/// <summary>
/// The Redis side of promotions: one connection per process, the pub/sub channel, and the "&lt;Channel&gt;:latest" key
/// that replicas started later read. Off when neither Promotions:RedisConnectionString nor Cache:RedisConnectionString is set.
/// </summary>
public sealed class PromotionChannel(IOptions<PromotionOptions> options, IOptions<CacheOptions> cache) : IDisposable
{
    readonly PromotionOptions _options = options.Value;
    readonly Lock _lock = new();
    Task<ConnectionMultiplexer>? _redis;

    string? ConnectionString => string.IsNullOrWhiteSpace(_options.RedisConnectionString) ? cache.Value.RedisConnectionString : _options.RedisConnectionString;
    public bool IsEnabled => !string.IsNullOrWhiteSpace(ConnectionString);

    /// <summary>This process, named in the messages it publishes, so it can skip its own.</summary>
    public string Origin { get; } = Guid.NewGuid().ToString("N");

    RedisChannel Channel => RedisChannel.Literal(_options.Channel);
    RedisKey LatestKey => _options.Channel + ":latest";

    /// <summary>Connects once; every other member shares the connection.</summary>
    public Task ConnectAsync() => Connection();

    /// <summary>Keeps <paramref name="message"/> as the latest and publishes it. Returns how many subscribers got it.</summary>
    public async Task<long> PublishAsync(PromotionMessage message)
    {
        var json = message.ToJson();
        var redis = await Connection();
        await redis.GetDatabase().StringSetAsync(LatestKey, json);
        return await redis.GetSubscriber().PublishAsync(Channel, json);
    }

    /// <summary>Hands every message published from now on to <paramref name="receive"/>, also after reconnecting.</summary>
    public async Task SubscribeAsync(Func<string, Task> receive)
    {
        var queue = await (await Connection()).GetSubscriber().SubscribeAsync(Channel);
        queue.OnMessage(message => receive(message.Message.ToString()));
    }

    /// <summary>The latest message published, or null when none was.</summary>
    public async Task<string?> LatestAsync()
    {
        var latest = await (await Connection()).GetDatabase().StringGetAsync(LatestKey);
        return latest.HasValue ? latest.ToString() : null;
    }

    Task<ConnectionMultiplexer> Connection()
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

    public void Dispose()
    {
        if (_redis is { IsCompletedSuccessfully: true } redis) redis.Result.Dispose();
    }
}
