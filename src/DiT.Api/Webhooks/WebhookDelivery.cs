namespace DiT.Api.Webhooks;

/// <summary>One event to deliver: its id (the same on every attempt, so receivers can drop repeats), target, JSON body,
/// and who wants to know how each attempt went.</summary>
public sealed record WebhookDelivery(string MessageId, Uri Target, string Body, Action<WebhookState> OnChange)
{
    public int Attempts { get; init; }
}

/// <summary>Where a webhook stands: pending (waiting or between attempts), delivered (a 2xx answer), or failed
/// (attempts used up, target refused, or dropped because the queue was full).</summary>
public sealed record WebhookState(string Status, int Attempts, int? LastStatusCode, string? LastError)
{
    public const string Pending = "pending", Delivered = "delivered", Failed = "failed";

    public bool IsFinal => Status != Pending;
}
