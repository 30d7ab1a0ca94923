using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;

namespace DiT.Api.Generate;

/// <summary>GET /generate/progress/{id}: the <see cref="ProgressStreams"/> subscriber side, as server-sent events.</summary>
public static partial class GenerateApi
{
    /// <summary>One SSE event: <c>ready</c> (subscribed; step 0), <c>progress</c> (step k of N), <c>done</c>
    /// (the request finished; its response has the image or the error) or <c>expired</c> (no request came).</summary>
    public sealed record ProgressEvent(int Step, int TotalSteps);

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
