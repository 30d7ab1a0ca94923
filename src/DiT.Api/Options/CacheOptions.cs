using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Options;

/// <summary>Image cache for seeded requests (section "Cache"): Redis when a connection string is set, else in-memory.</summary>
public sealed class CacheOptions
{
    public const string Section = "Cache";

    /// <summary>StackExchange.Redis configuration, e.g. "localhost:6379"; empty uses the in-process memory cache.</summary>
    public string? RedisConnectionString { get; set; }

    public bool Enabled { get; set; } = true;

    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")] public TimeSpan EntryLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>PNGs kept in this replica's memory, in front of Redis (least recently used dropped first).</summary>
    [Range(1, 65_536)] public int MemoryLimitMb { get; set; } = 64;

    /// <summary>Redis connect/sync/async timeout: a slow or absent Redis must not hold requests up.</summary>
    [Range(50, 30_000)] public int RedisTimeoutMs { get; set; } = 500;

    /// <summary>After a cache failure the cache is bypassed for this long before it is tried again.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")] public TimeSpan FailureBackoff { get; set; } = TimeSpan.FromSeconds(5);
}
