using System.Text.Json;
using System.Threading.Channels;
using DiT.Api.Imaging;
using DiT.Api.Webhooks;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generations;

/// <summary>
/// Runs generation jobs in order, Generations:MaxRunningJobs at a time. A job hands all its images to the engine at
/// once (they share sampling steps), each with seed + k and its own progress hook; a full engine queue makes the image
/// wait and retry rather than fail the job. The first failed image stops the others. At the end the webhook is queued
/// (never awaited here). Jobs live in memory: those still queued or running when the service stops are lost.
/// </summary>
public sealed partial class GenerationJobRunner(ImageRenderer renderer, WebhookSender webhooks, IOptions<GenerationsOptions> options,
    IOptions<EngineOptions> engineOptions, TimeProvider time, DiTTelemetry telemetry, ILogger<GenerationJobRunner> log) : BackgroundService
{
    readonly Channel<GenerationJob> _queue = Channel.CreateUnbounded<GenerationJob>(); // bounded by the store's MaxJobs

    public void Enqueue(GenerationJob job) => _queue.Writer.TryWrite(job);

    /// <summary>Cancels a job (DELETE); a queued one ends here, a running one when its images have left the engine.</summary>
    public CancelOutcome Cancel(GenerationJob job)
    {
        var outcome = job.Cancel(time.GetUtcNow());
        if (outcome == CancelOutcome.EndedNow) OnEnded(job);
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
        using var span = DiTTelemetry.Source.StartActivity("dit.generation_job");
        span?.SetTag("dit.job.id", job.Id);
        span?.SetTag("dit.job.images", job.Spec.Count);
        using var images = CancellationTokenSource.CreateLinkedTokenSource(job.Cancellation, stopping);
        var tasks = Enumerable.Range(0, job.Spec.Count).Select(k => RenderAsync(job, k, images)).ToArray();
        await Task.WhenAll(tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // the outcome is read from the tasks

        var (status, error) = tasks.All(t => t.IsCompletedSuccessfully) ? (JobStatus.Succeeded, (GenerationError?)null)
            : job.CancelRequested ? (JobStatus.Cancelled, null)
            : stopping.IsCancellationRequested || tasks.Any(t => t.Exception?.InnerException is EngineStoppingException)
                ? (JobStatus.Failed, new GenerationError("Service stopping", "The service stopped before the job was done; submit it again."))
            : (JobStatus.Failed, new GenerationError("Generation failed", "The engine could not make an image of this job; the service log has the details."));
        if (job.TryEnd(status, error, time.GetUtcNow())) OnEnded(job);
    }

    async Task RenderAsync(GenerationJob job, int k, CancellationTokenSource images)
    {
        var spec = job.Spec;
        var request = spec.RequestFor(k);
        var progress = new StepReporter(job, k);
        try
        {
            while (true)
            {
                try
                {
                    var rendered = await renderer.RenderAsync(request, spec.Output, spec.SeedGiven, progress, images.Token);
                    job.AddImage(new JobImage(k, request.Seed, rendered.Bytes, rendered.Output.ContentType, rendered.Width, rendered.Height,
                        rendered.ModelFingerprint, rendered.CacheHit));
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
            if (ex is not EngineStoppingException) LogImageFailed(ex, job.Id, k);
            await images.CancelAsync(); // one failed image fails the job: the others leave the engine
            throw;
        }
    }

    void OnEnded(GenerationJob job)
    {
        var snapshot = job.Snapshot();
        var status = snapshot.Status.ToString().ToLowerInvariant();
        telemetry.Generations.Add(1, new KeyValuePair<string, object?>("status", status));
        LogEnded(job.Id, status, snapshot.Images.Count, job.Spec.Count);
        if (job.Spec.Webhook is not { } target) return;
        var body = JsonSerializer.Serialize(new WebhookEvent($"generation.{status}", snapshot.FinishedAt ?? time.GetUtcNow(), GenerationView.Of(snapshot)),
            JsonSerializerOptions.Web);
        webhooks.TryEnqueue(new WebhookDelivery($"msg_{job.Id}", target, body, job.SetWebhook));
    }

    /// <summary>Standard Webhooks payload: type, timestamp, data (the job as GET shows it at its end).</summary>
    public sealed record WebhookEvent(string Type, DateTimeOffset Timestamp, GenerationView Data);

    /// <summary>The engine's progress hook for image k (called on the engine thread: only a counter update).</summary>
    sealed class StepReporter(GenerationJob job, int index) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value) => job.ReportStep(index, value.Step);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Generation job {JobId}: image {Index} failed")]
    partial void LogImageFailed(Exception ex, string jobId, int index);

    [LoggerMessage(Level = LogLevel.Information, Message = "Generation job {JobId} {Status} with {Images}/{Count} image(s)")]
    partial void LogEnded(string jobId, string status, int images, int count);
}
