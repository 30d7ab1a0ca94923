using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using DiT.Serving.Telemetry;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace DiT.Api.RateLimiting;

/// <summary>
/// ASP.NET Core's rate limiter with one fixed-window policy per route kind (RateLimits:Policies), partitioned by the
/// client's API key header (hashed: keys are not kept in memory) or its address. A rejected request gets a 429
/// ProblemDetails with Retry-After. With RateLimits:Enabled=false every policy lets everything through.
/// </summary>
public static class RateLimitExtensions
{
    public static IServiceCollection AddRateLimits(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((limiter, configured) =>
        {
            var options = configured.Value;
            foreach (var name in RateLimitPolicies.All)
            {
                var policy = options.Policies.GetValueOrDefault(name) ?? new RateLimitOptions().Policies[name];
                limiter.AddPolicy(name, http => options.Enabled
                    ? RateLimitPartition.GetFixedWindowLimiter($"{name}|{ClientOf(http, options.ApiKeyHeader)}", _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = policy.PermitLimit,
                        Window = policy.Window,
                        QueueLimit = 0, // answer at once: clients retry after Retry-After
                    })
                    : RateLimitPartition.GetNoLimiter(""));
            }
            limiter.OnRejected = RejectAsync;
        });
        return services;
    }

    /// <summary>"key:" + a hash of the API key header, else "ip:" + the client address.</summary>
    static string ClientOf(HttpContext http, string header)
    {
        var key = http.Request.Headers[header].ToString();
        if (key.Length > 0) return "key:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)), 0, 16);
        return "ip:" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
    }

    static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken ct)
    {
        var http = context.HttpContext;
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        var policy = http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName ?? "";
        http.RequestServices.GetRequiredService<DiTTelemetry>().RateLimited.Add(1, new KeyValuePair<string, object?>("policy", policy));
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many requests",
                Detail = $"This client has used its {policy} requests for now (RateLimits:Policies:{policy}); retry after {seconds} s.",
            },
        });
    }
}
