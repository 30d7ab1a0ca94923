using System.Diagnostics;
using System.Globalization;
using DiT.Api.Imaging;
using DiT.Api.OpenApi;
using DiT.Api.Playground;
using DiT.Api.Problems;
using DiT.Api.RateLimiting;
using DiT.Api.Requests;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generate;

/// <summary>POST /generate: one class-conditional image (png, jpeg or webp, parameters inside), cached when the seed is given.</summary>
public static class GenerateApi
{
    public const string TimeoutPolicy = "generate";

    /// <summary>The request-timeout policy of /generate (Engine:RequestTimeout -> 504, and the request leaves the engine).</summary>
    public static IServiceCollection AddGenerateTimeout(this IServiceCollection services)
    {
        services.AddRequestTimeouts();
        services.AddOptions<Microsoft.AspNetCore.Http.Timeouts.RequestTimeoutOptions>()
            .Configure<IOptions<EngineOptions>>((timeouts, engine) => timeouts.AddPolicy(TimeoutPolicy, engine.Value.RequestTimeout));
        return services;
    }

    public static IEndpointRouteBuilder MapGenerateApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/generate", Generate).WithName("Generate").WithTags("Generate")
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
