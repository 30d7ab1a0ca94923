using System.Threading.Channels;

namespace DiT.Api.Generations;

/// <summary>
/// Runs this replica's in-memory generation jobs in order, Generations:MaxRunningJobs at a time (see
/// <see cref="JobRendering"/> for how a job's images are made). At the end the webhook is queued (never awaited here).
/// Jobs live in memory: those still queued or running when the service stops are lost.
/// </summary>
public sealed class GenerationJobRunner(JobRendering rendering, JobEnds ends, Microsoft.Extensions.Options.IOptions<GenerationsOptions> options,
    TimeProvider time) : BackgroundService
{
    readonly Channel<GenerationJob> _queue = Channel.CreateUnbounded<GenerationJob>(); // bounded by the store's MaxJobs

    public void Enqueue(GenerationJob job) => _queue.Writer.TryWrite(job);

    /// <summary>Cancels a job (DELETE); a queued one ends here, a running one when its images have left the engine.</summary>
    public CancelOutcome Cancel(GenerationJob job)
    {
        var outcome = job.Cancel(time.GetUtcNow());
        if (outcome == CancelOutcome.EndedNow) ends.Ended(job.Snapshot(), job.SetWebhook);
        return outcome;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, options.Value.MaxRunningJobs).Select(_ => WorkAsync(stoppingToken)));

    async Task WorkAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(stopping)) await RunAsync(job, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    async Task RunAsync(GenerationJob job, CancellationToken stopping)
    {
        if (!job.TryStart(time.GetUtcNow())) return; // cancelled while it waited
        var run = await rendering.RunAsync(job.Id, job.Spec, new Progress(job), job.Cancellation, stopping);
        if (job.TryEnd(run.Status, run.Error, time.GetUtcNow())) ends.Ended(job.Snapshot(), job.SetWebhook);
    }

    sealed class Progress(GenerationJob job) : IJobProgress
    {
        public void ReportStep(int index, int step) => job.ReportStep(index, step);

        public Task AddImageAsync(JobImage image, byte[] file)
        {
            job.AddImage(image, file);
            return Task.CompletedTask;
        }
    }
}
