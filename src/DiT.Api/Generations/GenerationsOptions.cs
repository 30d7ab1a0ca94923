using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Generations;

/// <summary>Generation jobs (section "Generations"): how many images a job may ask for, how long results are kept, and
/// the bounds of the in-memory store.</summary>
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
}
