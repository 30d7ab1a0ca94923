using DiT.Api.Admin;
using DiT.Api.OpenApi;
using DiT.Api.Promotions;
using DiT.Api.Requests;
using DiT.Serving.Engine;
using DiT.Training;

namespace DiT.Api.Training;

/// <summary>What the job endpoints show about a job.</summary>
public sealed record JobView(
    string Id, string State, string Url, string Phase, long Step, long TotalSteps, double? Loss, double? StepsPerSecond,
    double? EtaSeconds, string? LatestCheckpoint, string? Error, bool CancelRequested,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt,
    string Data, string Init, string? InitCheckpoint, TrainingOptions Options)
{
    public static JobView From(TrainingJob j) => new(
        j.Id, j.State.ToString().ToLowerInvariant(), TrainingApi.JobUrl(j.Id), j.Phase, j.Step, j.TotalSteps, j.Loss, j.StepsPerSecond,
        j.EtaSeconds, j.LatestCheckpoint, j.Error, j.CancelRequested, j.CreatedAt, j.StartedAt, j.FinishedAt,
        j.Spec.DataPath, j.Spec.Init, j.Spec.InitCheckpoint, j.Spec.Options);
}

/// <summary>The result of a promotion: which checkpoint's EMA weights are now served.</summary>
public sealed record PromotionView(string JobId, string Checkpoint, string Fingerprint, long Step);

/// <summary>/admin/finetune and /admin/jobs: start, watch, cancel, resume and promote fine-tuning jobs.</summary>
public static class TrainingApi
{
    public static string JobUrl(string id) => $"/admin/jobs/{id}";

    public static IEndpointRouteBuilder MapTrainingApi(this IEndpointRouteBuilder app, IConfiguration configuration)
    {
        var admin = app.MapAdminGroup().WithTags("Training");
        if (!TrainingExtensions.IsEnabled(configuration))
        {
            admin.Map("/finetune", TrainingDisabled).ExcludeFromDescription();
            admin.Map("/jobs/{**rest}", TrainingDisabled).ExcludeFromDescription();
            return app;
        }
        admin.MapPost("/finetune", StartFinetune).WithName("StartFinetune")
            .WithSummary("Start a fine-tuning job (202 + job URL)")
            .WithDescription("""
                Body: `data` (image folder with one subfolder per class, or Fashion-MNIST IDX files; inside Training:DataRoots),
                `init` (served | checkpoint | scratch), `checkpoint`, `preset` (scratch), `imageChannels`, `steps`, `batchSize`,
                `learningRate`, `emaDecay`, `checkpointEvery`, `imageSize`, `seed`. Jobs run one at a time; a full queue answers 503.
                """)
            .DocumentJsonBody<FinetuneBody>().ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        admin.MapGet("/jobs", ListJobs).WithName("ListTrainingJobs").WithSummary("All fine-tuning jobs, newest first");
        admin.MapGet("/jobs/{id}", GetJob).WithName("GetTrainingJob").WithSummary("State, step, loss, steps/s, ETA and latest checkpoint of a job");
        admin.MapDelete("/jobs/{id}", CancelJob).WithName("CancelTrainingJob").WithSummary("Cancel a job (a running job saves a checkpoint first)");
        admin.MapPost("/jobs/{id}/resume", ResumeJob).WithName("ResumeTrainingJob").WithSummary("Continue an interrupted, cancelled or failed job from its latest checkpoint");
        admin.MapPost("/jobs/{id}/promote", PromoteJob).WithName("PromoteTrainingJob")
            .WithSummary("Serve the EMA weights of the job's latest checkpoint (atomic swap between batches)");
        return app;
    }

    static async Task<Results<Accepted<JobView>, ValidationProblem, ProblemHttpResult>> StartFinetune(
        HttpContext http, FinetuneValidator validator, IImageGenerator engine, JobStore store, TrainingJobRunner runner, CancellationToken ct)
    {
        const string invalid = "Invalid fine-tuning request";
        var (body, unreadable) = await JsonBody.ReadAsync<FinetuneBody>(http.Request, invalid, ct);
        if (unreadable is not null) return unreadable;
        var errors = new Dictionary<string, string[]>();
        var spec = validator.Validate(body!, engine.Model, errors);
        if (spec is null) return TypedResults.ValidationProblem(errors, title: invalid);
        var job = store.Add(spec);
        if (!runner.TryEnqueue(job.Id))
        {
            store.Update(job.Id, j => j with { State = JobState.Failed, Phase = "failed", Error = "The training queue was full.", FinishedAt = DateTimeOffset.UtcNow });
            return QueueFull();
        }
        return TypedResults.Accepted(JobUrl(job.Id), JobView.From(job));
    }

    static Ok<JobView[]> ListJobs(JobStore store) => TypedResults.Ok(store.All().Select(JobView.From).ToArray());

    static Results<Ok<JobView>, ProblemHttpResult> GetJob(string id, JobStore store) =>
        store.Get(id) is { } job ? TypedResults.Ok(JobView.From(job)) : NotFound(id);

    static Results<Accepted<JobView>, ProblemHttpResult> CancelJob(string id, JobStore store, TrainingJobRunner runner)
    {
        if (store.Get(id) is not { } job) return NotFound(id);
        if (job.IsFinished) return Conflict($"Job {id} has already ended ({job.State.ToString().ToLowerInvariant()}).");
        var updated = store.Update(id, j => j.State == JobState.Queued
            ? j with { State = JobState.Cancelled, Phase = "cancelled", FinishedAt = DateTimeOffset.UtcNow }
            : j with { CancelRequested = true });
        if (updated.State == JobState.Running) runner.CancelRunning(id);
        return TypedResults.Accepted(JobUrl(id), JobView.From(updated));
    }

    static Results<Accepted<JobView>, ProblemHttpResult> ResumeJob(string id, JobStore store, TrainingJobRunner runner)
    {
        if (store.Get(id) is not { } job) return NotFound(id);
        if (job.State is not (JobState.Interrupted or JobState.Cancelled or JobState.Failed))
            return Conflict($"Only interrupted, cancelled or failed jobs can be resumed; job {id} is {job.State.ToString().ToLowerInvariant()}.");
        var queued = store.Update(id, j => j with { State = JobState.Queued, Phase = "queued", Error = null, FinishedAt = null, CancelRequested = false });
        if (runner.TryEnqueue(id)) return TypedResults.Accepted(JobUrl(id), JobView.From(queued));
        store.Update(id, _ => job);
        return QueueFull();
    }

    static async Task<Results<Ok<PromotionView>, ProblemHttpResult>> PromoteJob(
        string id, JobStore store, ModelPromoter promoter, CancellationToken ct)
    {
        if (store.Get(id) is not { } job) return NotFound(id);
        if (job.LatestCheckpoint is not { } latest || !File.Exists(latest))
            return Conflict($"Job {id} has no checkpoint yet; wait for its first checkpoint (every {job.Spec.Options.CheckpointEvery} steps) or its end.");
        if (store.Confine(latest) is not { } checkpoint)
            return TypedResults.Problem(title: "Checkpoint outside the jobs folder", statusCode: StatusCodes.Status400BadRequest,
                detail: $"The latest checkpoint of job {id} is a symbolic link that leads out of the jobs folder; it is not loaded.");
        if (!promoter.TryLoad(checkpoint, expectedFingerprint: null, out var loaded, out var error))
            return Conflict($"The checkpoint of job {id} cannot be loaded: {error}");
        if (await promoter.ServeAsync(loaded, id, publish: true, ct) is { } refused) return Conflict(refused);
        return TypedResults.Ok(new PromotionView(id, checkpoint, loaded.Fingerprint, loaded.Step));
    }

    static ProblemHttpResult TrainingDisabled() =>
        TypedResults.Problem(title: "Fine-tuning is off on this replica", statusCode: StatusCodes.Status404NotFound,
            detail: "Training:Enabled is false here: fine-tuning jobs run on the trainer replica; send /admin/finetune and /admin/jobs there.");

    static ProblemHttpResult NotFound(string id) =>
        TypedResults.Problem(title: "No such job", statusCode: StatusCodes.Status404NotFound, detail: $"There is no training job '{id}'.");

    static ProblemHttpResult Conflict(string detail) =>
        TypedResults.Problem(title: "Conflict", statusCode: StatusCodes.Status409Conflict, detail: detail);

    static ProblemHttpResult QueueFull() =>
        TypedResults.Problem(title: "Training queue full", statusCode: StatusCodes.Status503ServiceUnavailable,
            detail: "Too many fine-tuning jobs are waiting; retry when one has finished (GET /admin/jobs).");
}
