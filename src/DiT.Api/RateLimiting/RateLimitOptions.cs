using System.ComponentModel.DataAnnotations;

namespace DiT.Api.RateLimiting;

/// <summary>Per-client rate limits (section "RateLimits"): a fixed window per route policy, counted per API key (header)
/// or, without one, per client address.</summary>
public sealed class RateLimitOptions : IValidatableObject
{
    public const string Section = "RateLimits";

    public bool Enabled { get; set; } = true;

    /// <summary>Header that names the client; requests without it are counted by address. The service does not check the
    /// key (put a gateway that does in front when clients may not be trusted to name themselves).</summary>
    [Required] public string ApiKeyHeader { get; set; } = "X-Api-Key";

    /// <summary>Limits by policy name (see <see cref="RateLimitPolicies"/>); a policy left out here keeps its default.</summary>
    public Dictionary<string, RoutePolicy> Policies { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        [RateLimitPolicies.Generate] = new() { PermitLimit = 120, Window = TimeSpan.FromMinutes(1) },
        [RateLimitPolicies.Submit] = new() { PermitLimit = 60, Window = TimeSpan.FromMinutes(1) },
        [RateLimitPolicies.Read] = new() { PermitLimit = 1200, Window = TimeSpan.FromMinutes(1) },
    };

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        foreach (var (name, policy) in Policies)
        {
            if (!RateLimitPolicies.All.Contains(name, StringComparer.OrdinalIgnoreCase))
                yield return new ValidationResult($"RateLimits:Policies:{name} is not a policy: allowed {string.Join(", ", RateLimitPolicies.All)}.");
            if (policy.PermitLimit < 1 || policy.Window <= TimeSpan.Zero || policy.Window > TimeSpan.FromDays(1))
                yield return new ValidationResult($"RateLimits:Policies:{name} needs PermitLimit >= 1 and a Window of more than 0 and at most 1 day.");
        }
    }
}

/// <summary>Requests a client may make per window.</summary>
public sealed class RoutePolicy
{
    public int PermitLimit { get; set; }
    public TimeSpan Window { get; set; }
}

/// <summary>The policy names endpoints use with RequireRateLimiting.</summary>
public static class RateLimitPolicies
{
    public const string Generate = "generate", Submit = "generations", Read = "generations-read";

    public static readonly string[] All = [Generate, Submit, Read];
}
