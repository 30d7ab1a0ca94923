using System.Text.Json;
using DiT.Api.Webhooks;
using DiT.Serving.Telemetry;

namespace DiT.Api.Generations;

/// <summary>What happens once when a job ends, wherever it lived: the dit.generations count, the log line, and the
/// webhook (queued, never awaited; its delivery state goes to the callback).</summary>
public sealed partial class JobEnds(WebhookSender webhooks, TimeProvider time, DiTTelemetry telemetry, ILogger<JobEnds> log)
{
    public void Ended(JobSnapshot snapshot, Action<WebhookState> onWebhook)
    {
        var status = snapshot.Status.ToString().ToLowerInvariant();
        telemetry.Generations.Add(1, new KeyValuePair<string, object?>("status", status));
        LogEnded(snapshot.Id, status, snapshot.Images.Count, snapshot.Spec.Count);
        if (snapshot.Spec.Webhook is not { } target) return;
        var body = JsonSerializer.Serialize(new WebhookEvent($"generation.{status}", snapshot.FinishedAt ?? time.GetUtcNow(), GenerationView.Of(snapshot)),
            JsonSerializerOptions.Web);
        webhooks.TryEnqueue(new WebhookDelivery($"msg_{snapshot.Id}", target, body, onWebhook));
    }

    /// <summary>Standard Webhooks payload: type, timestamp, data (the job as GET shows it at its end).</summary>
    public sealed record WebhookEvent(string Type, DateTimeOffset Timestamp, GenerationView Data);

    [LoggerMessage(Level = LogLevel.Information, Message = "Generation job {JobId} {Status} with {Images}/{Count} image(s)")]
    partial void LogEnded(string jobId, string status, int images, int count);
}
