using DiT.Api.Imaging;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generations;

/// <summary>Where a running job's news goes: this replica's memory, or Redis. <see cref="ReportStep"/> is called on the
/// engine thread, so it must stay cheap.</summary>
public interface IJobProgress
{
    void ReportStep(int index, int step);

    Task AddImageAsync(JobImage image, byte[] file);
}

/// <summary>How a run of a job ended. <see cref="Stopped"/>: the engine or the service stopped under it (not the job's fault).</summary>
public sealed record JobRun(JobStatus Status, GenerationError? Error, bool Stopped);

/// <summary>
/// Makes a job's images: all of them go to the engine at once (they share sampling steps), each with seed + k and its
/// own progress hook; a full engine queue makes the image wait and retry rather than fail the job. The first failed image
/// stops the others. Shared by the in-process runner and the Redis worker, so a job runs the same wherever it lives.
/// </summary>
public sealed partial class JobRendering(ImageRenderer renderer, IOptions<EngineOptions> engineOptions, TimeProvider time,
    ILogger<JobRendering> log)
{
    public static readonly GenerationError StoppedError = new("Service stopping", "The service stopped before the job was done; submit it again.");
    public static readonly GenerationError EngineError = new("Generation failed", "The engine could not make an image of this job; the service log has the details.");

    public async Task<JobRun> RunAsync(string id, GenerationSpec spec, IJobProgress progress, CancellationToken cancel, CancellationToken stopping)
    {
        using var span = DiTTelemetry.Source.StartActivity("dit.generation_job");
        span?.SetTag("dit.job.id", id);
        span?.SetTag("dit.job.images", spec.Count);
        using var images = CancellationTokenSource.CreateLinkedTokenSource(cancel, stopping);
        var tasks = Enumerable.Range(0, spec.Count).Select(k => RenderAsync(id, spec, k, progress, images)).ToArray();
        await Task.WhenAll(tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // the outcome is read from the tasks

        if (tasks.All(t => t.IsCompletedSuccessfully)) return new JobRun(JobStatus.Succeeded, null, false);
        if (cancel.IsCancellationRequested) return new JobRun(JobStatus.Cancelled, null, false);
        if (stopping.IsCancellationRequested || tasks.Any(t => t.Exception?.InnerException is EngineStoppingException))
            return new JobRun(JobStatus.Failed, StoppedError, true);
        return new JobRun(JobStatus.Failed, EngineError, false);
    }

    async Task RenderAsync(string id, GenerationSpec spec, int k, IJobProgress progress, CancellationTokenSource images)
    {
        var request = spec.RequestFor(k);
        var steps = new StepReporter(progress, k);
        try
        {
            while (true)
            {
                try
                {
                    var rendered = await renderer.RenderAsync(request, spec.Output, spec.SeedGiven, steps, images.Token);
                    await progress.AddImageAsync(new JobImage(k, request.Seed, rendered.Bytes.Length, rendered.Output.ContentType, rendered.Width,
                        rendered.Height, rendered.ModelFingerprint, rendered.CacheHit), rendered.Bytes);
                    return;
                }
                catch (QueueFullException) // the engine is busy with others: the job waits its turn instead of failing
                {
                    await Task.Delay(TimeSpan.FromSeconds(engineOptions.Value.RetryAfterSeconds), time, images.Token);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            if (ex is not EngineStoppingException) LogImageFailed(ex, id, k);
            await images.CancelAsync(); // one failed image fails the job: the others leave the engine
            throw;
        }
    }

    /// <summary>The engine's progress hook for image k (called on the engine thread: only a counter update).</summary>
    sealed class StepReporter(IJobProgress progress, int index) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value) => progress.ReportStep(index, value.Step);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Generation job {JobId}: image {Index} failed")]
    partial void LogImageFailed(Exception ex, string jobId, int index);
}
