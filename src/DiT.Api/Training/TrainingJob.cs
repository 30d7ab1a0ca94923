using System.Text.Json.Serialization;
using DiT.Training;

namespace DiT.Api.Training;

[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState { Queued, Running, Completed, Failed, Cancelled, Interrupted }

/// <summary>
/// A validated job: resolved data path, where the starting weights come from ("checkpoint" with a path, "default" for
/// the built-in model, "scratch" with a preset), the autoencoder's image channels, and the hyper-parameters.
/// </summary>
public sealed record JobSpec(string DataPath, string Init, string? InitCheckpoint, string? Preset, int ImageChannels, TrainingOptions Options);

/// <summary>One job as stored in &lt;JobsFolder&gt;/&lt;id&gt;/job.json and shown by GET /admin/jobs/{id}.</summary>
public sealed record TrainingJob(string Id, JobState State, JobSpec Spec, DateTimeOffset CreatedAt)
{
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>"queued", "encoding" (building the latent cache), "training", or the final state.</summary>
    public string Phase { get; init; } = "queued";
    public long Step { get; init; }
    public long TotalSteps { get; init; }
    public double? Loss { get; init; }
    public double? StepsPerSecond { get; init; }
    public double? EtaSeconds { get; init; }
    public string? LatestCheckpoint { get; init; }
    public string? Error { get; init; }
    public bool CancelRequested { get; init; }

    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled or JobState.Interrupted;
}
