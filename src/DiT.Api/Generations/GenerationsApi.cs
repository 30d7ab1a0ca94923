using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using DiT.Api.Generate;
using DiT.Api.OpenApi;
using DiT.Api.Problems;
using DiT.Api.Requests;
using DiT.Api.RateLimiting;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generations;

/// <summary>
/// /generations: asynchronous jobs of n images (image k uses seed + k). Submit (202, or the finished job within
/// <c>Prefer: wait=N</c>), read, follow as server-sent events, fetch each image, cancel. Idempotency-Key makes a
/// retried submit return the original job.
/// </summary>
public static class GenerationsApi
{
    public static string JobUrl(string id) => $"/generations/{id}";
    public static string ImageUrl(string id, int k) => $"/generations/{id}/images/{k}";

    public static IEndpointRouteBuilder MapGenerationsApi(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/generations").WithTags("Generations")
            .AddEndpointFilter(StoreUnavailable)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        jobs.MapPost("", Submit).WithName("SubmitGeneration").RequireRateLimiting(RateLimitPolicies.Submit)
            .WithSummary("Start a job of n images (202 + the job)")
            .WithDescription($"""
                Body: what POST /generate takes (class, guidanceScale, steps, sampler, seed, format, quality) plus `n` (images,
                default 1; image k uses seed + k, the seed being chosen once when absent) and `webhook` (an http(s) URL POSTed
                when the job ends, signed Standard-Webhooks style). Answers 202 with the job and `Location`.
                Header `{RequestHeaders.Prefer}: wait=N` holds the answer up to N seconds (at most Generations:MaxWaitSeconds):
                201 with the finished job, else 202. Header `{RequestHeaders.IdempotencyKey}`: the same key with the same body
                returns the original job (200, `Idempotent-Replayed: true`) for as long as the job is kept; with another body 422.
                A full job store answers 503 with Retry-After.
                """)
            .DocumentJsonBody<GenerationsBody>()
            .Produces<GenerationView>(StatusCodes.Status202Accepted)
            .Produces<GenerationView>(StatusCodes.Status201Created)
            .Produces<GenerationView>(StatusCodes.Status200OK)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        jobs.MapGet("/{id}", GetJob).WithName("GetGeneration").RequireRateLimiting(RateLimitPolicies.Read)
            .WithSummary("A job: status, progress and one entry per finished image (seed, URL, size, cache hit)")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        jobs.MapGet("/{id}/images/{k}", GetImage).WithName("GetGenerationImage").RequireRateLimiting(RateLimitPolicies.Read)
            .WithSummary("Image k of a job, in the job's format (headers X-Seed, X-Cache, X-Model-Fingerprint)")
            .Produces(StatusCodes.Status200OK, typeof(Stream), "image/png", "image/jpeg", "image/webp")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        jobs.MapGet("/{id}/events", StreamEvents).WithName("GenerationEvents").RequireRateLimiting(RateLimitPolicies.Read)
            .WithSummary("Server-sent events of a job: its state, progress, each image, the end")
            .WithDescription("""
                Events (`text/event-stream`, JSON data): `job` first (the job as GET shows it), `progress` when steps are done
                (`{"status","imagesDone","images","stepsDone","totalSteps"}`; a slow reader gets fewer, later ones, never an
                older one), `image` for each finished image (as in the job's `images`), and `end` (the final job), after which
                the stream closes. A job that has already ended sends `job` and `end` at once.
                """)
            .Produces(StatusCodes.Status200OK, typeof(GenerationProgressEvent), "text/event-stream")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        jobs.MapDelete("/{id}", CancelJob).WithName("CancelGeneration").RequireRateLimiting(RateLimitPolicies.Submit)
            .WithSummary("Cancel a queued or running job; its images leave the engine (200 + the cancelled job)")
            .WithDescription("Images finished before the cancel stay readable. A job that has already ended answers 409.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    /// <summary>The shared job store (Redis) cannot be reached: 503 with Retry-After, not a 500.</summary>
    static async ValueTask<object?> StoreUnavailable(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try { return await next(context); }
        catch (JobStoreUnavailableException)
        {
            var seconds = context.HttpContext.RequestServices.GetRequiredService<IOptions<EngineOptions>>().Value.RetryAfterSeconds;
            context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return TypedResults.Problem(title: "Job store unavailable", statusCode: StatusCodes.Status503ServiceUnavailable,
                detail: "The shared generation job store (Redis) cannot be reached; retry after the Retry-After delay. POST /generate still works.");
        }
    }

    /// <summary>Data of a <c>progress</c> event.</summary>
    public sealed record GenerationProgressEvent(string Status, int ImagesDone, int Images, int StepsDone, int TotalSteps);

    static async Task<Results<Created<GenerationView>, Ok<GenerationView>, Accepted<GenerationView>, ValidationProblem, ProblemHttpResult>> Submit(
        HttpContext http, IImageGenerator engine, GenerationsValidator validator, IGenerationJobs jobs,
        IOptions<GenerationsOptions> options, IOptions<EngineOptions> engineOptions, DiTTelemetry telemetry, CancellationToken ct)
    {
        if (engine.Model is not { } model) return ProblemResults.NotReady();
        var errors = new Dictionary<string, string[]>();
        var wait = RequestHeaders.Wait(http.Request, options.Value.MaxWaitSeconds, errors);
        var key = RequestHeaders.Key(http.Request, errors);
        const string invalid = "Invalid generation request";
        var (body, unreadable) = await JsonBody.ReadAsync<GenerationsBody>(http.Request, invalid, ct);
        if (unreadable is not null) return unreadable;
        var spec = validator.Validate(body!, model, errors);
        if (spec is null || errors.Count > 0) return TypedResults.ValidationProblem(errors, title: invalid);

        var (outcome, job) = await jobs.SubmitAsync(spec, body!, key, GenerationJobStore.ReservationFor(model, spec.Count), ct);
        switch (outcome)
        {
            case AddOutcome.Full or AddOutcome.QueueFull:
                telemetry.Generations.Add(1, new KeyValuePair<string, object?>("status", "rejected"));
                http.Response.Headers.RetryAfter = engineOptions.Value.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                return outcome == AddOutcome.Full
                    ? TypedResults.Problem(title: "Job store full", statusCode: StatusCodes.Status503ServiceUnavailable,
                        detail: "This replica holds as many generation jobs (or image bytes) as it may; retry after the Retry-After delay.")
                    : TypedResults.Problem(title: "Job queue full", statusCode: StatusCodes.Status503ServiceUnavailable,
                        detail: "The service has as many generation jobs waiting or running as it may (Generations:MaxQueuedJobs); retry after the Retry-After delay.");
            case AddOutcome.KeyReused:
                return TypedResults.Problem(title: "Idempotency-Key reused with another body", statusCode: StatusCodes.Status422UnprocessableEntity,
                    detail: $"This Idempotency-Key already made job {job!.Id} from a different body; send a new key for a new request.");
        }

        var snapshot = job!;
        if (wait is { } w)
        {
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            waiting.CancelAfter(w);
            try { snapshot = await UntilEndedAsync(jobs, snapshot, waiting.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { } // not done yet: 202, the client follows the links
            http.Response.Headers[RequestHeaders.PreferenceApplied] = $"wait={w.TotalSeconds:F0}";
        }
        var view = GenerationView.Of(snapshot);
        var url = JobUrl(snapshot.Id);
        if (outcome == AddOutcome.Replayed)
        {
            http.Response.Headers.Location = url;
            http.Response.Headers["Idempotent-Replayed"] = "true";
            return TypedResults.Ok(view);
        }
        return wait is not null && snapshot.IsEnded ? TypedResults.Created(url, view) : TypedResults.Accepted(url, view);
    }

    /// <summary>The job once it has ended (the latest state seen when <paramref name="ct"/> fires first, which throws).</summary>
    static async Task<JobSnapshot> UntilEndedAsync(IGenerationJobs jobs, JobSnapshot snapshot, CancellationToken ct)
    {
        while (!snapshot.IsEnded)
            snapshot = await jobs.NextAsync(snapshot.Id, snapshot.Version, ct) ?? snapshot;
        return snapshot;
    }

    static async Task<Results<Ok<GenerationView>, ProblemHttpResult>> GetJob(string id, IGenerationJobs jobs, CancellationToken ct)
    {
        var (job, problem) = await FindAsync(id, jobs, ct);
        return job is not null ? TypedResults.Ok(GenerationView.Of(job)) : problem ?? NotFound(id);
    }

    static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetImage(HttpContext http, string id, string k, IGenerationJobs jobs,
        CancellationToken ct)
    {
        var (job, problem) = await FindAsync(id, jobs, ct);
        if (job is null) return problem ?? NotFound(id);
        int count = job.Spec.Count;
        if (!int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index >= count)
            return Invalid("k", $"k must be an image index of this job, 0..{count - 1}.");
        if (await jobs.ImageAsync(id, index, ct) is not var (image, file))
        {
            var status = (await jobs.GetAsync(id, ct))?.Status ?? job.Status;
            return status is JobStatus.Queued or JobStatus.Running
                ? TypedResults.Problem(title: "Image not ready", statusCode: StatusCodes.Status409Conflict,
                    detail: $"Image {index} of job {id} is not done yet; follow {JobUrl(id)}/events or GET {JobUrl(id)}.")
                : TypedResults.Problem(title: "No such image", statusCode: StatusCodes.Status404NotFound,
                    detail: $"Job {id} ended ({status.ToString().ToLowerInvariant()}) before image {index} was made.");
        }
        var headers = http.Response.Headers;
        headers["X-Seed"] = image.Seed.ToString(CultureInfo.InvariantCulture);
        headers["X-Cache"] = image.CacheHit ? "hit" : "miss";
        headers["X-Model-Fingerprint"] = image.ModelFingerprint;
        return TypedResults.File(file, image.ContentType);
    }

    static async Task<Results<ServerSentEventsResult<string>, ProblemHttpResult>> StreamEvents(string id, IGenerationJobs jobs, CancellationToken ct)
    {
        var (job, problem) = await FindAsync(id, jobs, ct);
        return job is not null ? TypedResults.ServerSentEvents(Events(jobs, job, ct)) : problem ?? NotFound(id);
    }

    static async IAsyncEnumerable<SseItem<string>> Events(IGenerationJobs jobs, JobSnapshot snapshot, [EnumeratorCancellation] CancellationToken ct)
    {
        yield return Event("job", GenerationView.Of(snapshot));
        var sent = snapshot.Images.Select(i => i.Index).ToHashSet();
        var (steps, status) = (snapshot.StepsDone, snapshot.Status);
        while (!snapshot.IsEnded)
        {
            // Changes in between are merged: the latest state is sent. A job gone (expired) ends the stream.
            if (await jobs.NextAsync(snapshot.Id, snapshot.Version, ct) is not { } next) yield break;
            snapshot = next;
            if (!snapshot.IsEnded && (snapshot.StepsDone != steps || snapshot.Status != status))
            {
                (steps, status) = (snapshot.StepsDone, snapshot.Status);
                yield return Event("progress", new GenerationProgressEvent(status.ToString().ToLowerInvariant(), snapshot.Images.Count,
                    snapshot.Spec.Count, steps, snapshot.Spec.TotalSteps));
            }
            foreach (var image in GenerationView.Of(snapshot).Images.Where(i => sent.Add(i.Index))) yield return Event("image", image);
        }
        yield return Event("end", GenerationView.Of(snapshot));
    }

    static SseItem<string> Event<T>(string type, T data) => new(JsonSerializer.Serialize(data, JsonSerializerOptions.Web), type);

    static async Task<Results<Ok<GenerationView>, ProblemHttpResult>> CancelJob(string id, IGenerationJobs jobs, CancellationToken ct)
    {
        var (before, problem) = await FindAsync(id, jobs, ct);
        if (before is null) return problem ?? NotFound(id);
        if (await jobs.CancelAsync(id, ct) is not { } job) return NotFound(id);
        var view = GenerationView.Of(job);
        return view.Status == "cancelled" ? TypedResults.Ok(view)
            : TypedResults.Problem(title: "Job already ended", statusCode: StatusCodes.Status409Conflict,
                detail: $"Job {id} has already ended ({view.Status}); there is nothing to cancel.");
    }

    /// <summary>The job, or the problem to answer: 400 naming <c>id</c> for a malformed id; (null, null) for an unknown or expired one (404).</summary>
    static async Task<(JobSnapshot? Job, ProblemHttpResult? Problem)> FindAsync(string id, IGenerationJobs jobs, CancellationToken ct)
    {
        if (id.Length != 32 || !id.All(char.IsAsciiHexDigitLower))
            return (null, Invalid("id", "A job id is 32 lowercase hex digits, as returned by POST /generations."));
        return (await jobs.GetAsync(id, ct), null);
    }

    static ProblemHttpResult NotFound(string id) =>
        TypedResults.Problem(title: "No such job", statusCode: StatusCodes.Status404NotFound,
            detail: $"There is no generation job '{id}' (jobs are deleted Generations:Retention after they end).");

    /// <summary>A 400 ValidationProblem as a ProblemHttpResult, so handlers can keep one problem type in their union.</summary>
    static ProblemHttpResult Invalid(string field, string message) =>
        TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = [message] })
        {
            Title = "Invalid generation request",
            Status = StatusCodes.Status400BadRequest,
        });
}
