using System.Text.Json.Nodes;
using Microsoft.OpenApi;

namespace DiT.Api.OpenApi;

/// <summary>What the features' Swagger filters write into an operation: examples built for the served model, and the
/// optional headers an endpoint reads itself (so minimal APIs do not declare them).</summary>
public static class OpenApiExamples
{
    /// <summary>The example of the application/json request body, when the operation has one.</summary>
    public static void SetBodyExample(this OpenApiOperation operation, JsonNode example)
    {
        if (operation.RequestBody?.Content?.TryGetValue("application/json", out var body) == true && body is OpenApiMediaType media)
            media.Example = example;
    }

    /// <summary>The example of the <paramref name="status"/> answer, in every media type or only <paramref name="mediaType"/>.</summary>
    public static void SetResponseExample(this OpenApiOperation operation, string status, JsonNode example, string? mediaType = null)
    {
        if (operation.Responses?.TryGetValue(status, out var response) != true || response!.Content is not { } content) return;
        foreach (var (type, media) in content)
            if ((mediaType is null || type == mediaType) && media is OpenApiMediaType m) m.Example = example.DeepClone();
    }

    /// <summary>An optional string header.</summary>
    public static void AddOptionalHeader(this OpenApiOperation operation, string name, string description, string? example = null)
    {
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = name,
            In = ParameterLocation.Header,
            Required = false,
            Description = description,
            Example = example,
            Schema = new OpenApiSchema { Type = JsonSchemaType.String },
        });
    }

    /// <summary>The operations of <paramref name="document"/>, every path and method.</summary>
    public static IEnumerable<OpenApiOperation> Operations(this OpenApiDocument document) =>
        document.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []);
}
