using System.Security.Cryptography;
using System.Text;
using DiT.Api.Options;
using Microsoft.Extensions.Options;

namespace DiT.Api.Admin;

/// <summary>Admin gate: 404 when no key is configured (the endpoints do not exist), 401 unless the
/// X-Api-Key header matches, compared in constant time.</summary>
public sealed class ApiKeyFilter(IOptions<AdminOptions> options) : IEndpointFilter
{
    readonly byte[]? _key = options.Value.Enabled ? Encoding.UTF8.GetBytes(options.Value.ApiKey!) : null;

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (_key is null) return ValueTask.FromResult<object?>(TypedResults.NotFound());
        var given = context.HttpContext.Request.Headers[AdminOptions.ApiKeyHeader].ToString();
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), _key))
            return ValueTask.FromResult<object?>(TypedResults.Problem(
                title: "Unauthorized", statusCode: StatusCodes.Status401Unauthorized,
                detail: $"Admin endpoints need a valid {AdminOptions.ApiKeyHeader} header."));
        return next(context);
    }
}
