using DiT.Api.Imaging;
using DiT.Api.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace DiT.Api.Caching;

/// <summary>
/// The image cache requests see: this replica's memory first (at most Cache:MemoryLimitMb of PNGs, least recently
/// used dropped first), then the shared store (Redis) when one is configured. An image is in memory before its answer
/// goes out, so once a seeded request has answered 200 the identical request is a hit on this replica, whether Redis
/// is fast, slow, down or absent; other replicas hit once Redis has it.
/// </summary>
public sealed class LocalFirstImageCache : IImageCache, IDisposable
{
    readonly MemoryCache _memory;
    readonly DistributedImageCache? _shared;
    readonly CacheOptions _options;
    readonly DiTTelemetry _telemetry;

    public LocalFirstImageCache(IOptions<CacheOptions> options, DiTTelemetry telemetry, DistributedImageCache? shared)
    {
        _options = options.Value;
        _telemetry = telemetry;
        _shared = shared;
        _memory = new MemoryCache(new MemoryCacheOptions { SizeLimit = (long)_options.MemoryLimitMb * 1024 * 1024 });
    }

    public bool IsEnabled => _options.Enabled;

    public async Task<byte[]?> GetAsync(ImageKey key, CancellationToken ct)
    {
        if (!IsEnabled) return null;
        var name = DistributedImageCache.KeyOf(key);
        if (_memory.TryGetValue(name, out byte[]? png))
        {
            Record("hit");
            return png;
        }
        if (_shared is null)
        {
            Record("miss");
            return null;
        }
        png = await _shared.GetAsync(key, ct);
        if (png is not null) Remember(name, png); // the next lookup here need not ask Redis
        return png;
    }

    public async Task SetAsync(ImageKey key, byte[] png, CancellationToken ct)
    {
        if (!IsEnabled) return;
        Remember(DistributedImageCache.KeyOf(key), png);
        if (_shared is not null) await _shared.SetAsync(key, png, ct);
    }

    void Remember(string name, byte[] png) => _memory.Set(name, png, new MemoryCacheEntryOptions
    {
        Size = png.Length,
        AbsoluteExpirationRelativeToNow = _options.EntryLifetime,
    });

    void Record(string result) => _telemetry.CacheLookups.Add(1,
        new KeyValuePair<string, object?>("result", result), new KeyValuePair<string, object?>("layer", "memory"));

    public void Dispose() => _memory.Dispose();
}
