using System.ComponentModel.DataAnnotations;
using DiT.Diffusion;

namespace DiT.Serving.Options;

/// <summary>Sampling defaults, request limits and dynamic batching (section "Engine"). The values here are appsettings.json's,
/// so the service and the CLI's in-process engine start alike (DefaultSettingsTests keeps the two equal).</summary>
public sealed class EngineOptions : IValidatableObject
{
    public const string Section = "Engine";

    /// <summary>Sampler used when a request names none: ddpm, ddim or dpmpp-2m.</summary>
    [Required, SamplerName]
    public string DefaultSampler { get; set; } = "dpmpp-2m";

    [Range(1, 1000)] public int DefaultSteps { get; set; } = 20;
    [Range(1, 1000)] public int MaxSteps { get; set; } = 1000;

    [Range(1.0, 100.0)] public double DefaultGuidanceScale { get; set; } = 2.0;
    [Range(1.0, 100.0)] public double MaxGuidanceScale { get; set; } = 20.0;

    /// <summary>Guidance interval "LOW-HIGH" in noise level sigma for guided requests that give none; empty: guidance at
    /// every step. A request opts out with "guidanceInterval": [].</summary>
    public string DefaultGuidanceInterval { get; set; } = "0.3-5";

    /// <summary><see cref="DefaultGuidanceInterval"/> parsed; null when empty.</summary>
    public GuidanceInterval? DefaultInterval => GuidanceInterval.TryParse(DefaultGuidanceInterval);

    /// <summary>Step cache used when a request names none: off, fora:N, taylor:N or teacache:T (docs/quality.md).</summary>
    [Required, StepCacheSetting] public string DefaultCache { get; set; } = "off";

    /// <summary>"reference" guides channels [:3] as DiT's forward_with_cfg (reproduces sample.py), "all-channels" every epsilon channel.</summary>
    [Required, GuidanceModeName]
    public string GuidanceMode { get; set; } = "reference";

    /// <summary><see cref="GuidanceMode"/> parsed. Validation reads every property, so an unknown name must not throw here:
    /// it reads as Reference (validation then refuses it, with its own message).</summary>
    public DiT.Diffusion.GuidanceMode Guidance =>
        GuidanceModeNames.ByName.TryGetValue(GuidanceMode ?? "", out var mode) ? mode : DiT.Diffusion.GuidanceMode.Reference;

    /// <summary>"continuous": requests join a running batch at its next denoising step and leave as soon as they are done
    /// (one running batch per sampler and step count); "whole": a batch is formed, sampled to the end, then the next.</summary>
    [Required, RegularExpression("^(?i)(continuous|whole)$", ErrorMessage = "Engine:Batching must be continuous or whole.")]
    public string Batching { get; set; } = "continuous";

    public bool ContinuousBatching => Batching.Equals("continuous", StringComparison.OrdinalIgnoreCase);

    /// <summary>Most requests sampled together in one loop (continuous: rows in flight over all running batches).</summary>
    [Range(1, 256)] public int MaxBatchSize { get; set; } = 8;

    /// <summary>Longest the engine waits for more compatible requests before starting a batch (whole batching only:
    /// continuous batching starts at once and lets later requests join).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")] public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Requests waiting for the engine; beyond it /generate answers 429.</summary>
    [Range(1, 100_000)] public int QueueCapacity { get; set; } = 64;

    /// <summary>Longest a /generate request may take, queue included; then it leaves its batch and gets a 504.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")] public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>libtorch intra-op threads (process-wide); 0 keeps libtorch's default (one per core). On a CPU shared with
    /// other busy processes 1 can be many times faster: tiny models gain nothing from threads that wait for each other.</summary>
    [Range(0, 1024)] public int TorchThreads { get; set; }

    /// <summary>Retry-After seconds sent with a 429.</summary>
    [Range(1, 3600)] public int RetryAfterSeconds { get; set; } = 2;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(DefaultGuidanceInterval) && DefaultInterval is null)
            yield return new ValidationResult($"Engine:DefaultGuidanceInterval '{DefaultGuidanceInterval}' must be empty or LOW-HIGH: {GuidanceInterval.Rule}.",
                [nameof(DefaultGuidanceInterval)]);
    }
}
