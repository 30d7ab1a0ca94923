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
    /// <summary>The body's schema and the answers of <see cref="Requests.JsonBody"/>: 400 field errors, 408, 413, 415.</summary>
    public static RouteHandlerBuilder DocumentJsonBody<T>(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new JsonBodyMetadata(typeof(T)))
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status408RequestTimeout)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
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
