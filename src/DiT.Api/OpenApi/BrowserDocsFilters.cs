using System.Text.Json.Nodes;
using DiT.Api.Options;
using DiT.Api.Playground;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;
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

/// <summary>
/// POST /generate: a request example that works against the model being served (its first class name, the default
/// steps), so "Try it out" succeeds as is, and the optional X-Request-Id header of the progress stream.
/// </summary>
sealed class GenerateExampleFilter(IImageGenerator engine, IOptions<EngineOptions> options) : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().FirstOrDefault()?.EndpointName != "Generate")
            return;
        if (operation.RequestBody?.Content?.TryGetValue("application/json", out var body) == true && body is OpenApiMediaType media)
            media.Example = new JsonObject
            {
                ["className"] = engine.Model?.Classes.Entries[0].Names[0] ?? "golden retriever",
                ["steps"] = options.Value.DefaultSteps,
                ["seed"] = 42,
            };
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = ProgressStreams.RequestIdHeader,
            In = ParameterLocation.Header,
            Required = false,
            Description = "Optional: publish this request's denoising steps to GET /generate/progress/{id} (subscribe first).",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String },
        });
    }
}
