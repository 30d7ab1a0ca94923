using DiT.Api.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace DiT.Api.OpenApi;

/// <summary>The X-Api-Key scheme, required by every /admin operation, so Swagger UI's Authorize button sends the key.</summary>
sealed class AdminApiKeyFilter : IOperationFilter
{
    public const string Scheme = "AdminApiKey";

    public static readonly OpenApiSecurityScheme Definition = new()
    {
        Type = SecuritySchemeType.ApiKey,
        In = ParameterLocation.Header,
        Name = AdminOptions.ApiKeyHeader,
        Description = $"The Admin:ApiKey setting, sent as the {AdminOptions.ApiKeyHeader} header. The /admin endpoints are 404 while it is empty.",
    };

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (context.ApiDescription.RelativePath?.StartsWith("admin/", StringComparison.OrdinalIgnoreCase) != true) return;
        operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Scheme, context.Document)] = [] }];
    }
}
