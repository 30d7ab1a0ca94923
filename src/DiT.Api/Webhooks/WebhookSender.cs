using System.Net.Http.Headers;
using System.Text;
using System.Threading.Channels;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Webhooks;

/// <summary>
/// Sends webhooks from a bounded queue, off the request and engine paths: a few workers POST each event, signed, and a
/// failed attempt (connection error, timeout, non-2xx) goes back into the queue after an exponential backoff, up to
/// Webhooks:MaxAttempts. Refused targets are not retried. Redirects are not followed (they could lead anywhere).
/// Webhooks still waiting when the service stops are lost, like the in-memory jobs they report on.
/// </summary>
public sealed partial class WebhookSender : BackgroundService
{
    readonly WebhookOptions _options;
    readonly HttpClient _http;
    readonly Channel<WebhookDelivery> _queue;
    readonly TimeProvider _time;
    readonly DiTTelemetry _telemetry;
    readonly ILogger<WebhookSender> _log;

    public WebhookSender(IOptions<WebhookOptions> options, WebhookTargets targets, TimeProvider time, DiTTelemetry telemetry, ILogger<WebhookSender> log)
    {
        _options = options.Value;
        (_time, _telemetry, _log) = (time, telemetry, log);
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = targets.ConnectAsync,
            AllowAutoRedirect = false,
            UseProxy = false, // a proxy would connect for us, past the address check
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        }) { Timeout = Timeout.InfiniteTimeSpan }; // per attempt: Webhooks:Timeout
        _queue = Channel.CreateBounded<WebhookDelivery>(new BoundedChannelOptions(_options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>Queues the first attempt; never waits. False (and the delivery marked failed) when the queue is full.</summary>
    public bool TryEnqueue(WebhookDelivery delivery)
    {
        delivery.OnChange(new WebhookState(WebhookState.Pending, 0, null, null));
        if (_queue.Writer.TryWrite(delivery)) return true;
        Count("dropped");
        LogDropped(delivery.MessageId, _options.QueueCapacity);
        delivery.OnChange(new WebhookState(WebhookState.Failed, 0, null, "dropped: the webhook queue was full"));
        return false;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, _options.Concurrency).Select(_ => WorkAsync(stoppingToken)));

    async Task WorkAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var delivery in _queue.Reader.ReadAllAsync(stopping)) await AttemptAsync(delivery, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    async Task AttemptAsync(WebhookDelivery delivery, CancellationToken stopping)
    {
        delivery = delivery with { Attempts = delivery.Attempts + 1 };
        using var span = DiTTelemetry.Source.StartActivity("dit.webhook");
        span?.SetTag("dit.webhook.attempt", delivery.Attempts);
        var (statusCode, error, retry) = await SendAsync(delivery, stopping);
        span?.SetTag("http.response.status_code", statusCode);
        if (error is null)
        {
            Count("delivered");
            delivery.OnChange(new WebhookState(WebhookState.Delivered, delivery.Attempts, statusCode, null));
            return;
        }
        if (retry && delivery.Attempts < _options.MaxAttempts)
        {
            Count("retried");
            var delay = _options.DelayBefore(delivery.Attempts + 1);
            LogRetry(delivery.MessageId, delivery.Attempts, error, delay.TotalSeconds);
            delivery.OnChange(new WebhookState(WebhookState.Pending, delivery.Attempts, statusCode, error));
            _ = RetryLaterAsync(delivery, delay, stopping);
            return;
        }
        Count(retry ? "failed" : "refused");
        LogGaveUp(delivery.MessageId, delivery.Attempts, error);
        delivery.OnChange(new WebhookState(WebhookState.Failed, delivery.Attempts, statusCode, error));
    }

    async Task<(int? StatusCode, string? Error, bool Retry)> SendAsync(WebhookDelivery delivery, CancellationToken stopping)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Target)
        {
            Content = new StringContent(delivery.Body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(WebhookSigner.IdHeader, delivery.MessageId);
        request.Headers.Add(WebhookSigner.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSigner.SignatureHeader, WebhookSigner.Sign(_options.Key(), delivery.MessageId, timestamp, delivery.Body));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("DiT-Webhooks", "1"));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            int code = (int)response.StatusCode;
            return response.IsSuccessStatusCode ? (code, null, false) : (code, $"HTTP {code}", true);
        }
        catch (HttpRequestException e) when (RefusalIn(e) is { } refused) { return (null, "refused: " + refused.Message, false); }
        catch (HttpRequestException e) { return (null, $"connection failed ({e.HttpRequestError})", true); }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested) { return (null, "timed out", true); }
    }

    static WebhookRefusedException? RefusalIn(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is WebhookRefusedException refused) return refused;
        return null;
    }

    async Task RetryLaterAsync(WebhookDelivery delivery, TimeSpan delay, CancellationToken stopping)
    {
        try
        {
            await Task.Delay(delay, _time, stopping);
            await _queue.Writer.WriteAsync(delivery, stopping);
        }
        catch (OperationCanceledException) { } // stopping
    }

    void Count(string outcome) => _telemetry.WebhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {MessageId} attempt {Attempt} failed ({Error}); retrying in {Seconds:F1} s")]
    partial void LogRetry(string messageId, int attempt, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {MessageId} given up after {Attempts} attempt(s): {Error}")]
    partial void LogGaveUp(string messageId, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {MessageId} dropped: {Capacity} webhooks are already waiting")]
    partial void LogDropped(string messageId, int capacity);
}
