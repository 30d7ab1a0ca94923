using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Webhooks;

/// <summary>Signed webhooks (section "Webhooks"): off until a secret is set; where they may go; how they are retried.</summary>
public sealed class WebhookOptions : IValidatableObject
{
    public const string Section = "Webhooks";
    public const string SecretPrefix = "whsec_";

    /// <summary>Standard Webhooks signing secret: "whsec_" + base64 of 24-64 random bytes. Empty turns webhooks off
    /// (a request with a webhook gets 400).</summary>
    public string? Secret { get; set; }

    /// <summary>Hosts a webhook may target: exact names, "*.example.com" (any subdomain), or "*" (any host; appsettings.json's
    /// default). Empty allows none. (No default here: the binder appends configured items to an array's defaults.)</summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>Allow loopback, private, link-local and other non-public addresses (checked after DNS resolution, at connect).
    /// Off in production: a webhook must not reach into the service's own network.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Attempts per webhook, the first included; then it is given up (the job shows webhook status "failed").</summary>
    [Range(1, 20)] public int MaxAttempts { get; set; } = 5;

    /// <summary>Wait before the second attempt; doubled before each later one, up to <see cref="MaxDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")] public TimeSpan InitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")] public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Per attempt, connect to last byte of the answer.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")] public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Webhooks waiting to be sent; beyond it a webhook is dropped (logged, and its job shows "failed").</summary>
    [Range(1, 1_000_000)] public int QueueCapacity { get; set; } = 1000;

    /// <summary>Webhooks sent at once.</summary>
    [Range(1, 64)] public int Concurrency { get; set; } = 4;

    public bool Enabled => !string.IsNullOrEmpty(Secret);

    /// <summary>The HMAC key: the base64 after "whsec_".</summary>
    public byte[] Key() => Convert.FromBase64String(Secret![SecretPrefix.Length..]);

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (!Enabled) yield break;
        byte[]? key = null;
        try { if (Secret!.StartsWith(SecretPrefix, StringComparison.Ordinal)) key = Key(); }
        catch (FormatException) { }
        if (key is not { Length: >= 24 and <= 64 })
            yield return new ValidationResult("Webhooks:Secret must be \"whsec_\" followed by the base64 of 24-64 random bytes.", [nameof(Secret)]);
    }

    /// <summary>The wait before attempt <paramref name="attempt"/> (2, 3, ...): InitialDelay * 2^(attempt - 2), at most MaxDelay.</summary>
    public TimeSpan DelayBefore(int attempt) =>
        TimeSpan.FromTicks((long)Math.Min(MaxDelay.Ticks, InitialDelay.Ticks * Math.Pow(2, Math.Max(0, attempt - 2))));
}
