using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using DiT.Api.Generate;
using DiT.Api.Problems;
using DiT.Diffusion;
using DiT.Model.StepCaching;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;

namespace DiT.Api.Playground;

/// <summary>
/// The browser face of the service: the playground page at / (wwwroot), the request limits it builds its form from,
/// and the server-sent-events progress stream of a /generate request.
/// </summary>
public static class PlaygroundApi
{
    /// <summary>One SSE event: <c>ready</c> (subscribed; step 0), <c>progress</c> (step k of N), <c>done</c>
    /// (the request finished; its response has the image or the error) or <c>expired</c> (no request came).</summary>
    public sealed record ProgressEvent(int Step, int TotalSteps);

    /// <summary>MinNoiseLevel and MaxNoiseLevel: the schedule's sigma at t = 0 and at its last step, the span a guidance
    /// interval is drawn from; DefaultGuidanceInterval: [low, high] applied to guided requests that give none, or null.</summary>
    public sealed record GenerateLimits(int DefaultSteps, int MaxSteps, double DefaultGuidanceScale, double MaxGuidanceScale,
        bool SupportsGuidance, string DefaultSampler, IReadOnlyList<string> Samplers, long MaxSeed, double MinNoiseLevel, double MaxNoiseLevel,
        IReadOnlyList<double>? DefaultGuidanceInterval)
    {
        /// <summary>The step cache a request gets when it names none (Engine:DefaultCache).</summary>
        public string DefaultCache { get; init; } = "off";
    }

    public static IServiceCollection AddPlayground(this IServiceCollection services)
    {
        services.AddOptions<PlaygroundOptions>().BindConfiguration(PlaygroundOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        return services.AddSingleton(sp =>
        {
            var limits = sp.GetRequiredService<IOptions<PlaygroundOptions>>().Value;
            return new ProgressStreams { MaxStreams = limits.MaxProgressStreams, MaxStreamsPerClient = limits.MaxProgressStreamsPerClient };
        });
    }

    public static WebApplication MapPlayground(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles();

        app.MapGet("/generate/limits", GetLimits).WithName("GetGenerateLimits").WithTags("Generate")
            .WithSummary("Defaults and allowed ranges of the POST /generate fields")
            .WithDescription("What a form needs: default and maximum steps and guidance scale (guidance is fixed at 1 when the model has no null class), samplers, largest seed, the noise levels (sigma) a guidance interval can span, the default interval and the default step cache.");

        app.MapGet("/generate/progress/{id}", StreamProgress).WithName("GenerateProgress").WithTags("Generate")
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

    static Results<Ok<GenerateLimits>, ProblemHttpResult> GetLimits(IImageGenerator engine, IOptions<EngineOptions> options)
    {
        if (engine.Model is not { } model) return ProblemResults.NotReady();
        var o = options.Value;
        return TypedResults.Ok(new GenerateLimits(o.DefaultSteps, o.MaxSteps,
            model.SupportsGuidance ? o.DefaultGuidanceScale : 1, model.SupportsGuidance ? o.MaxGuidanceScale : 1,
            model.SupportsGuidance, o.DefaultSampler.ToLowerInvariant(), [.. SamplerNames.ByName.Keys], GenerateValidator.MaxSeed,
            GenerateValidator.NoiseLevels[0], GenerateValidator.NoiseLevels[^1],
            model.SupportsGuidance && o.DefaultInterval is { } interval ? [interval.Low, interval.High] : null)
        { DefaultCache = StepCacheSettings.Parse(o.DefaultCache).ToString() });
    }

    static Results<ServerSentEventsResult<ProgressEvent>, ValidationProblem, ProblemHttpResult> StreamProgress(
        string id, HttpContext http, ProgressStreams streams, CancellationToken ct)
    {
        if (!ProgressStreams.IsValidId(id))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["id"] = ["The request id must be 8-64 characters of A-Z, a-z, 0-9, '-' or '_'."],
            }, title: "Invalid progress request");
        var (stream, error) = streams.Subscribe(id, http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        return error switch
        {
            SubscribeError.AlreadySubscribed => TypedResults.Problem(title: "Already subscribed", statusCode: StatusCodes.Status409Conflict,
                detail: "This request id already has a progress subscriber; pick a new random id per request."),
            SubscribeError.TooManyStreams => TypedResults.Problem(title: "Too many progress streams", statusCode: StatusCodes.Status429TooManyRequests,
                detail: $"{streams.MaxStreams} progress streams are open; retry shortly."),
            SubscribeError.TooManyFromClient => TypedResults.Problem(title: "Too many progress streams", statusCode: StatusCodes.Status429TooManyRequests,
                detail: $"This client already has {streams.MaxStreamsPerClient} progress streams open; close some or retry shortly."),
            _ => TypedResults.ServerSentEvents(Events(streams, id, stream!, ct)),
        };
    }

    static async IAsyncEnumerable<SseItem<ProgressEvent>> Events(ProgressStreams streams, string id, ProgressStream stream,
        [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            yield return new SseItem<ProgressEvent>(new ProgressEvent(0, 0), "ready");
            if (!await StartedAsync(stream, streams.PublisherWait, ct))
            {
                yield return new SseItem<ProgressEvent>(new ProgressEvent(0, 0), "expired");
                yield break;
            }
            var last = new ProgressEvent(0, 0);
            await foreach (var step in stream.Steps.ReadAllAsync(ct))
                yield return new SseItem<ProgressEvent>(last = new ProgressEvent(step.Step, step.TotalSteps), "progress");
            yield return new SseItem<ProgressEvent>(last, "done");
        }
        finally { streams.Close(id, stream); }
    }

    static async Task<bool> StartedAsync(ProgressStream stream, TimeSpan wait, CancellationToken ct)
    {
        try
        {
            await stream.Published.WaitAsync(wait, ct);
            return true;
        }
        catch (TimeoutException) { return false; }
    }
}
