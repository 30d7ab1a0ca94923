namespace DiT.Api.Options;

/// <summary>Admin endpoints (section "Admin"): off (404) unless an API key is configured.</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>Shared secret expected in the X-Api-Key header; empty turns /admin off.</summary>
    public string? ApiKey { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(ApiKey);
}
