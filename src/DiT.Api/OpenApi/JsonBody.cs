using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace DiT.Api.OpenApi;

/// <summary>
/// Documents a JSON body that the handler reads itself. `.Accepts&lt;T&gt;()` would also make routing answer a
/// wrong Content-Type with a bare 415 before the handler can answer with a 400 ValidationProblem.
/// </summary>
public sealed record JsonBodyMetadata(Type BodyType);

public static class JsonBodyExtensions
{
    public static RouteHandlerBuilder DocumentJsonBody<T>(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new JsonBodyMetadata(typeof(T)));
}

/// <summary>Adds the application/json request body of endpoints marked with <see cref="JsonBodyMetadata"/>.</summary>
sealed class JsonBodyOperationFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var body = context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<JsonBodyMetadata>().FirstOrDefault();
        if (body is null) return;
        var schema = context.SchemaGenerator.GenerateSchema(body.BodyType, context.SchemaRepository);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, IOpenApiMediaType> { ["application/json"] = new OpenApiMediaType { Schema = schema } },
        };
    }
}
