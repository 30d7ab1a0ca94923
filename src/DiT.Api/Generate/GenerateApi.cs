using System.Diagnostics;
using System.Globalization;
using DiT.Api.Imaging;
using DiT.Api.OpenApi;
using DiT.Api.Problems;
using DiT.Api.RateLimiting;
using DiT.Api.Requests;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generate;

/// <summary>
/// /generate: POST one class-conditional image (png, jpeg or webp, parameters inside), cached when the seed is given;
/// GET /generate/limits, the defaults and ranges a form is built from (GenerateApi.Limits.cs); GET /generate/progress/{id},
/// the denoising steps of one request as server-sent events (GenerateApi.Progress.cs).
/// </summary>
public static partial class GenerateApi
{
    public const string TimeoutPolicy = "generate";

    /// <summary>The request-timeout policy of POST /generate (Engine:RequestTimeout -> 504, and the request leaves the
    /// engine), the progress streams with their "Playground" limits, and the Swagger example.</summary>
    public static IServiceCollection AddGenerate(this IServiceCollection services)
    {
        services.AddRequestTimeouts();
        services.AddOptions<Microsoft.AspNetCore.Http.Timeouts.RequestTimeoutOptions>()
            .Configure<IOptions<EngineOptions>>((timeouts, engine) => timeouts.AddPolicy(TimeoutPolicy, engine.Value.RequestTimeout));
        services.AddOptions<PlaygroundOptions>().BindConfiguration(PlaygroundOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var limits = sp.GetRequiredService<IOptions<PlaygroundOptions>>().Value;
            return new ProgressStreams { MaxStreams = limits.MaxProgressStreams, MaxStreamsPerClient = limits.MaxProgressStreamsPerClient };
        });
        services.ConfigureSwaggerGen(o => o.DocumentFilter<GenerateOpenApi>());
        return services;
    }

    public static IEndpointRouteBuilder MapGenerateApi(this IEndpointRouteBuilder app)
    {
        var generate = app.MapGroup("/generate").WithTags("Generate");
        generate.MapPost("", Generate).WithName("Generate")
            .WithSummary("Generate one image of a class")
            .WithDescription("""
                Samples one image with the served DiT and returns it as PNG (or `format` jpeg/webp with `quality`); the file carries
                its parameters (PNG text chunks `parameters` and `dit`; EXIF UserComment and XMP for jpeg/webp). Only the class is
                required, by `classId` or `className` (any synonym, case-insensitive; see GET /classes). Response headers: `X-Seed` (the seed used),
                `X-Cache` (hit|miss|off: only requests with an explicit seed are cached), `X-Queue-Ms`, `X-Generate-Ms`,
                `X-Batch-Size` (requests sampled together), `X-Model-Fingerprint`, `X-Model-Passes` (`full/total`: model passes,
                one per step and guidance branch, that ran the transformer, of all the request made; below total when `cache`
                reused work; absent on cache hits). A full queue answers 429 with Retry-After; a stopping service 503 with Retry-After
                (another replica can take the request).
                """)
            .DocumentJsonBody<GenerateBody>()
            .Produces(StatusCodes.Status200OK, typeof(Stream), "image/png", "image/jpeg", "image/webp")
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout)
            .WithRequestTimeout(TimeoutPolicy)
            .RequireRateLimiting(RateLimitPolicies.Generate);
        generate.MapGet("/limits", GetLimits).WithName("GetGenerateLimits")
            .WithSummary("Defaults and allowed ranges of the POST /generate fields")
            .WithDescription("What a form needs: default and maximum steps and guidance scale (guidance is fixed at 1 when the model has no null class), samplers, largest seed, the noise levels (sigma) a guidance interval can span, the default interval and the default step cache.");
        generate.MapGet("/progress/{id}", StreamProgress).WithName("GenerateProgress")
            .WithSummary("Server-sent events: the denoising steps of one POST /generate request")
            .WithDescription($$"""
                Subscribe first, then send POST /generate with header `{{ProgressStreams.RequestIdHeader}}: <id>` (8-64 characters of
                A-Z a-z 0-9 - _; pick a random one). Events (`text/event-stream`, data `{"step":k,"totalSteps":N}`): `ready` once
                subscribed, `progress` after each step (a slow reader may miss some; the last one always arrives), `done` when the
                request has finished (its own response carries the image or the error), or `expired` when no request with this id
                started within 30 s. One subscriber per id; cached images finish without progress.
                """)
            .Produces(StatusCodes.Status200OK, typeof(ProgressEvent), "text/event-stream")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        return app;
    }

    static async Task<Results<FileContentHttpResult, ValidationProblem, ProblemHttpResult>> Generate(
        HttpContext http, IImageGenerator engine, ImageRenderer renderer, IOptions<EngineOptions> engineOptions,
        IOptions<OutputOptions> outputOptions, DiTTelemetry telemetry, ProgressStreams progressStreams, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var options = engineOptions.Value;
        if (engine.Model is not { } model) return Outcome(telemetry, "unavailable", ProblemResults.NotReady());

        const string invalid = "Invalid generate request";
        var (body, unreadable) = await JsonBody.ReadAsync<GenerateBody>(http.Request, invalid, ct);
        if (unreadable is not null) return Outcome(telemetry, "invalid", unreadable);
        var errors = new Dictionary<string, string[]>();
        var request = GenerateValidator.Validate(body!, model, options, errors);
        var output = OutputValidator.Validate(body!.Format, body.Quality, outputOptions.Value, errors);
        if (request is null || output is null) return Outcome(telemetry, "invalid", TypedResults.ValidationProblem(errors, title: invalid));

        using var progress = progressStreams.Publish(http.Request.Headers[ProgressStreams.RequestIdHeader]); // null: no progress wanted
        var headers = http.Response.Headers;
        headers["X-Seed"] = request.Seed.ToString(CultureInfo.InvariantCulture);
        bool seedGiven = body!.Seed is not null;
        RenderedImage rendered;
        try { rendered = await renderer.RenderAsync(request, output, seedGiven, progress, ct); }
        catch (QueueFullException full)
        {
            headers.RetryAfter = options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return Outcome(telemetry, "rejected", ProblemResults.QueueFull(full.Capacity));
        }
        catch (EngineUnavailableException) { return Outcome(telemetry, "unavailable", ProblemResults.NotReady()); }
        catch (EngineStoppingException)
        {
            headers.RetryAfter = options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return Outcome(telemetry, "stopping", ProblemResults.Stopping());
        }
        catch (OperationCanceledException)
        {
            Count(telemetry, "cancelled"); // the client left or timed out (504 from the timeout middleware)
            throw;
        }

        headers["X-Cache"] = rendered.CacheHit ? "hit" : renderer.Caches(seedGiven) ? "miss" : "off";
        headers["X-Model-Fingerprint"] = rendered.ModelFingerprint;
        if (rendered.Generated is { } image)
        {
            headers["X-Queue-Ms"] = Ms(image.QueueTime);
            headers["X-Generate-Ms"] = Ms(image.GenerateTime);
            headers["X-Batch-Size"] = image.BatchSize.ToString(CultureInfo.InvariantCulture);
            headers["X-Model-Passes"] = image.Passes.ToString();
        }
        telemetry.Latency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return Outcome(telemetry, rendered.CacheHit ? "cached" : "ok", TypedResults.File(rendered.Bytes, output.ContentType));
    }

    static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture);

    static T Outcome<T>(DiTTelemetry telemetry, string outcome, T result)
    {
        Count(telemetry, outcome);
        return result;
    }

    static void Count(DiTTelemetry telemetry, string outcome) =>
        telemetry.Requests.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
