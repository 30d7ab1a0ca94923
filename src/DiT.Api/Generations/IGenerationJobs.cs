namespace DiT.Api.Generations;

public enum AddOutcome { Added, Replayed, KeyReused, Full, QueueFull }

/// <summary>The answer to a submit: what happened, and the job (the new one, or the one an Idempotency-Key already made).</summary>
public sealed record Submission(AddOutcome Outcome, JobSnapshot? Job);

/// <summary>
/// Where generation jobs live: this replica's memory (<see cref="InProcessGenerationJobs"/>) or Redis, shared by every
/// replica (<c>RedisGenerationJobs</c>). The endpoints see only snapshots, so both look the same to a client.
/// Implementations throw <see cref="JobStoreUnavailableException"/> when their store cannot be reached.
/// </summary>
public interface IGenerationJobs
{
    Task<Submission> SubmitAsync(GenerationSpec spec, GenerationsBody body, string? idempotencyKey, long reservedBytes, CancellationToken ct);

    /// <summary>The job now; null when there is none (or it has expired).</summary>
    Task<JobSnapshot?> GetAsync(string id, CancellationToken ct);

    /// <summary>The job at its first change after <paramref name="version"/> (at once if there was one); null once it is gone.</summary>
    Task<JobSnapshot?> NextAsync(string id, long version, CancellationToken ct);

    /// <summary>Image k and its file; null while it is not made.</summary>
    Task<(JobImage Image, byte[] File)?> ImageAsync(string id, int k, CancellationToken ct);

    /// <summary>Cancels a queued or running job and returns it once it has ended (a running one when its images have left
    /// the engine); null when there is no such job. An ended job comes back unchanged.</summary>
    Task<JobSnapshot?> CancelAsync(string id, CancellationToken ct);
}

/// <summary>The job store cannot be reached (Redis down): the endpoints answer 503.</summary>
public sealed class JobStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
