using DiT.Api.Imaging;
using DiT.Api.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DiT.Api.Caching;

public static class CachingExtensions
{
    /// <summary>This replica's memory, and behind it Redis when Cache:RedisConnectionString is set (short timeouts, no
    /// abort on connect failure, commands fail at once while disconnected).</summary>
    public static IServiceCollection AddImageCache(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(CacheOptions.Section).Get<CacheOptions>() ?? new CacheOptions();
        if (string.IsNullOrWhiteSpace(options.RedisConnectionString))
        {
            services.AddSingleton<IImageCache>(sp => new LocalFirstImageCache(
                sp.GetRequiredService<IOptions<CacheOptions>>(), sp.GetRequiredService<DiTTelemetry>(), shared: null));
            return services;
        }
        services.AddStackExchangeRedisCache(redis =>
            {
                var config = ConfigurationOptions.Parse(options.RedisConnectionString);
                config.AbortOnConnectFail = false;
                config.ConnectTimeout = options.RedisTimeoutMs;
                config.SyncTimeout = options.RedisTimeoutMs;
                config.AsyncTimeout = options.RedisTimeoutMs;
                config.ConnectRetry = 1;
                config.BacklogPolicy = BacklogPolicy.FailFast; // while disconnected, fail at once rather than queue until the timeout
                redis.ConfigurationOptions = config;
                redis.InstanceName = "";
            });
        services.AddSingleton<DistributedImageCache>();
        services.AddSingleton<IImageCache, LocalFirstImageCache>();
        return services;
    }
}
