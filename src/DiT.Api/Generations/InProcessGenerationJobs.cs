namespace DiT.Api.Generations;

/// <summary>Jobs in this replica's memory (no Redis configured): the store and the runner of this process, as before.</summary>
public sealed class InProcessGenerationJobs(GenerationJobStore store, GenerationJobRunner runner) : IGenerationJobs
{
    public Task<Submission> SubmitAsync(GenerationSpec spec, GenerationsBody body, string? idempotencyKey, long reservedBytes, CancellationToken ct)
    {
        var (outcome, job) = store.Add(spec, body, idempotencyKey, reservedBytes);
        if (outcome == AddOutcome.Added) runner.Enqueue(job!);
        return Task.FromResult(new Submission(outcome, job?.Snapshot()));
    }

    public Task<JobSnapshot?> GetAsync(string id, CancellationToken ct) => Task.FromResult(store.Get(id)?.Snapshot());

    public async Task<JobSnapshot?> NextAsync(string id, long version, CancellationToken ct)
    {
        if (store.Get(id) is not { } job) return null;
        await job.ChangedSince(version).WaitAsync(ct);
        return job.Snapshot();
    }

    public Task<(JobImage Image, byte[] File)?> ImageAsync(string id, int k, CancellationToken ct) => Task.FromResult(store.Get(id)?.Image(k));

    public async Task<JobSnapshot?> CancelAsync(string id, CancellationToken ct)
    {
        if (store.Get(id) is not { } job) return null;
        if (runner.Cancel(job) == CancelOutcome.Cancelling) await job.Ended.WaitAsync(ct); // its images leave the engine at once
        return job.Snapshot();
    }
}
