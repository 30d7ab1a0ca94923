using System.Text.Json;
using DiT.Serving.Engine;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generations;

/// <summary>
/// The jobs in memory, bounded by Generations:MaxJobs and MaxStoredBytes (each job reserves its images' size at submit,
/// see <see cref="ReservationFor"/>, so the bound holds before any image exists). A job is deleted Generations:Retention after it ends (reads never
/// see an expired job; <see cref="Sweep"/> frees the memory). Idempotency keys live exactly as long as their job.
/// </summary>
public sealed class GenerationJobStore(IOptions<GenerationsOptions> options, TimeProvider time)
{
    readonly GenerationsOptions _options = options.Value;
    readonly Lock _lock = new();
    readonly Dictionary<string, GenerationJob> _jobs = new(StringComparer.Ordinal);
    readonly Dictionary<string, GenerationJob> _byKey = new(StringComparer.Ordinal);
    long _reservedBytes;

    public int Count
    {
        get { lock (_lock) return _jobs.Count; }
    }

    /// <summary>Adds a job, or returns the job an earlier request with the same Idempotency-Key made (Replayed when the
    /// body is the same, KeyReused when it is not), or Full.</summary>
    /// <summary>Bytes a job of <paramref name="n"/> images holds at most: twice the raw pixels (a lossless or q100 file of
    /// noise can be larger than the pixels) plus 8 KiB of headers and parameters per image.</summary>
    public static long ReservationFor(ServedModel model, int n) => n * (2L * model.ImageWidth * model.ImageHeight * model.ImageChannels + 8192);

    public (AddOutcome Outcome, GenerationJob? Job) Add(GenerationSpec spec, GenerationsBody submitted, string? idempotencyKey, long reservedBytes)
    {
        // Compared as canonical JSON: the same fields and values, whatever the spacing or order they were sent in.
        var body = JsonSerializer.Serialize(submitted, JsonSerializerOptions.Web);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (idempotencyKey is not null && _byKey.TryGetValue(idempotencyKey, out var earlier) && !earlier.IsExpired(now))
                return (earlier.Body == body ? AddOutcome.Replayed : AddOutcome.KeyReused, earlier);
            if (IsFull(reservedBytes)) SweepLocked(now);
            if (IsFull(reservedBytes)) return (AddOutcome.Full, null);
            var job = new GenerationJob(Guid.NewGuid().ToString("N"), spec, body, idempotencyKey, reservedBytes, now, _options.Retention);
            _jobs[job.Id] = job;
            if (idempotencyKey is not null) _byKey[idempotencyKey] = job; // replaces an expired job's entry, if any
            _reservedBytes += reservedBytes;
            return (AddOutcome.Added, job);
        }
    }

    bool IsFull(long reservedBytes) => _jobs.Count >= _options.MaxJobs || _reservedBytes + reservedBytes > _options.MaxStoredBytes;

    public GenerationJob? Get(string id)
    {
        lock (_lock)
            return _jobs.TryGetValue(id, out var job) && !job.IsExpired(time.GetUtcNow()) ? job : null;
    }

    /// <summary>Deletes the jobs whose retention has passed; returns how many.</summary>
    public int Sweep()
    {
        lock (_lock) return SweepLocked(time.GetUtcNow());
    }

    int SweepLocked(DateTimeOffset now)
    {
        var expired = _jobs.Values.Where(j => j.IsExpired(now)).ToList();
        foreach (var job in expired)
        {
            _jobs.Remove(job.Id);
            if (job.IdempotencyKey is { } key && _byKey.GetValueOrDefault(key) == job) _byKey.Remove(key);
            _reservedBytes -= job.ReservedBytes;
        }
        return expired.Count;
    }
}
