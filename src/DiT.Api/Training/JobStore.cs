using System.Collections.Concurrent;
using System.Text.Json;
using DiT.Api.Options;
using DiT.Model.IO;
using Microsoft.Extensions.Options;

namespace DiT.Api.Training;

/// <summary>
/// Job records in memory and on disk (&lt;JobsFolder&gt;/&lt;id&gt;/job.json, written via temp file + rename). At start every
/// record is read back; a job that was queued or running when the service stopped becomes <see cref="JobState.Interrupted"/>.
/// Progress-only updates are written at most once a second; state changes at once.
/// </summary>
public sealed class JobStore
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    static readonly TimeSpan ProgressWriteInterval = TimeSpan.FromSeconds(1);

    readonly ConcurrentDictionary<string, TrainingJob> _jobs = new();
    readonly ConcurrentDictionary<string, DateTime> _written = new();
    readonly Lock _lock = new();

    public JobStore(IOptions<TrainingJobsOptions> options)
    {
        Folder = Path.GetFullPath(options.Value.JobsFolder);
        Directory.CreateDirectory(Folder);
        foreach (var file in Directory.GetDirectories(Folder).Select(d => Path.Combine(d, "job.json")).Where(File.Exists))
        {
            TrainingJob? job;
            try { job = JsonSerializer.Deserialize<TrainingJob>(File.ReadAllText(file), Json); }
            catch (JsonException) { continue; } // not ours or half-written by an older build: leave it alone
            if (job is null) continue;
            if (job.State is JobState.Queued or JobState.Running)
            {
                job = job with
                {
                    State = JobState.Interrupted, Phase = "interrupted", FinishedAt = DateTimeOffset.UtcNow,
                    Error = $"The service stopped while the job was {job.State.ToString().ToLowerInvariant()}; POST /admin/jobs/{job.Id}/resume continues from its latest checkpoint.",
                };
                Write(job);
            }
            _jobs[job.Id] = job;
        }
    }

    public string Folder { get; }
    public string FolderOf(string id) => Path.Combine(Folder, id);

    /// <summary>The real path of a file a job names (its checkpoints), or null when a symlink leads it out of <see cref="Folder"/>.</summary>
    public string? Confine(string path) => new PathRoots([Folder]).Resolve(path);
    public TrainingJob? Get(string id) => _jobs.GetValueOrDefault(id);
    public IReadOnlyList<TrainingJob> All() => [.. _jobs.Values.OrderByDescending(j => j.CreatedAt)];

    public TrainingJob Add(JobSpec spec)
    {
        var job = new TrainingJob(Guid.NewGuid().ToString("N")[..12], JobState.Queued, spec, DateTimeOffset.UtcNow) { TotalSteps = spec.Options.Steps };
        Directory.CreateDirectory(FolderOf(job.Id));
        lock (_lock) { _jobs[job.Id] = job; Write(job); }
        return job;
    }

    /// <summary>Raised with every new state of a job, in order, inside the update (handlers must be quick).</summary>
    public event Action<TrainingJob>? Changed;

    /// <summary>Applies <paramref name="change"/> atomically (with respect to other updates) and persists the result.</summary>
    public TrainingJob Update(string id, Func<TrainingJob, TrainingJob> change, bool progressOnly = false)
    {
        lock (_lock)
        {
            var job = change(_jobs[id]);
            _jobs[id] = job;
            if (!progressOnly || DateTime.UtcNow - _written.GetValueOrDefault(id) >= ProgressWriteInterval) Write(job);
            Changed?.Invoke(job);
            return job;
        }
    }

    void Write(TrainingJob job)
    {
        var path = Path.Combine(FolderOf(job.Id), "job.json");
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(job, Json));
        File.Move(temp, path, overwrite: true);
        _written[job.Id] = DateTime.UtcNow;
    }
}
