using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Options;

/// <summary>Sampling defaults, request limits and dynamic batching (section "Engine").</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>Sampler used when a request names none: ddpm, ddim or dpmpp-2m.</summary>
    [Required, RegularExpression("^(?i)(ddpm|ddim|dpmpp-2m)$", ErrorMessage = "Engine:DefaultSampler must be ddpm, ddim or dpmpp-2m.")]
    public string DefaultSampler { get; set; } = "ddim";

    [Range(1, 1000)] public int DefaultSteps { get; set; } = 50;
    [Range(1, 1000)] public int MaxSteps { get; set; } = 1000;

    [Range(1.0, 100.0)] public double DefaultGuidanceScale { get; set; } = 4.0;
    [Range(1.0, 100.0)] public double MaxGuidanceScale { get; set; } = 20.0;

    /// <summary>"eps" guides the noise prediction only (DiT's sample.py), "full" all output channels.</summary>
    [Required, RegularExpression("^(?i)(eps|full)$", ErrorMessage = "Engine:GuidanceMode must be eps or full.")]
    public string GuidanceMode { get; set; } = "eps";

    /// <summary>Most requests sampled together in one loop.</summary>
    [Range(1, 256)] public int MaxBatchSize { get; set; } = 8;

    /// <summary>Longest the engine waits for more compatible requests before starting a batch.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")] public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Requests waiting for the engine; beyond it /generate answers 429.</summary>
    [Range(1, 100_000)] public int QueueCapacity { get; set; } = 64;

    /// <summary>Retry-After seconds sent with a 429.</summary>
    [Range(1, 3600)] public int RetryAfterSeconds { get; set; } = 2;
}
