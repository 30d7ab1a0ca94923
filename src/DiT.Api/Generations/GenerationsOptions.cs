using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Generations;

/// <summary>Generation jobs (section "Generations"): how many images a job may ask for, how long results are kept, the
/// bounds of the in-memory store, and the shared queue on Redis that makes every replica one service.</summary>
public sealed class GenerationsOptions
{
    public const string Section = "Generations";

    /// <summary>Largest <c>n</c> (images per job).</summary>
    [Range(1, 64)] public int MaxImages { get; set; } = 16;

    /// <summary>How long a finished job and its images stay readable; then they are deleted (and the Idempotency-Key is free again).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")] public TimeSpan Retention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Jobs held at once (queued, running or retained); beyond it POST /generations answers 503.</summary>
    [Range(1, 1_000_000)] public int MaxJobs { get; set; } = 1000;

    /// <summary>Bytes of images held at once (each job reserves its worst case at submit); beyond it POST answers 503.</summary>
    [Range(1024, long.MaxValue)] public long MaxStoredBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Jobs whose images are handed to the engine at once; the others wait in order.</summary>
    [Range(1, 256)] public int MaxRunningJobs { get; set; } = 4;

    /// <summary>Longest <c>Prefer: wait=N</c> a client may ask for.</summary>
    [Range(1, 600)] public int MaxWaitSeconds { get; set; } = 60;

    /// <summary>How often expired jobs are deleted (reads never return an expired job in between).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")] public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    // ---------------------------------------------------------------- shared jobs on Redis (docs/deployment.md)

    /// <summary>StackExchange.Redis configuration of the shared job queue. Unset (null): Cache:RedisConnectionString;
    /// empty (or both unset): jobs stay in this replica's memory.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Prefix of every key and channel of the shared queue; replicas with the same prefix share their jobs.</summary>
    [Required, MinLength(1)] public string RedisKeyPrefix { get; set; } = "dit:generations";

    /// <summary>Jobs waiting or running in the whole service (the stream's length); beyond it POST /generations answers 503.</summary>
    [Range(1, 10_000_000)] public int MaxQueuedJobs { get; set; } = 1000;

    /// <summary>A job whose replica has not renewed its claim for this long is taken by another replica and run again.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")] public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Runs of a job that may fail (engine error, or its replica lost) before it ends failed.</summary>
    [Range(1, 100)] public int MaxAttempts { get; set; } = 3;

    /// <summary>Redis command timeout of the shared queue (images travel through it, so longer than the cache's).</summary>
    [Range(50, 60_000)] public int RedisTimeoutMs { get; set; } = 5000;

    /// <summary>How long a job that no replica finishes stays in Redis (its key's time to live before it ends).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")] public TimeSpan MaxJobAge { get; set; } = TimeSpan.FromDays(1);
}
