using System.Text.Json.Nodes;
using DiT.Api.OpenApi;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace DiT.Api.Generate;

/// <summary>
/// POST /generate in Swagger: a request example that works against the model being served (its first class name, the
/// default steps), so "Try it out" succeeds as is, and the optional X-Request-Id header of the progress stream. A
/// document filter, so it runs after the operation filter that adds the request body.
/// </summary>
sealed class GenerateOpenApi(IImageGenerator engine, IOptions<EngineOptions> options) : IDocumentFilter
{
    public void Apply(OpenApiDocument document, DocumentFilterContext context)
    {
        foreach (var operation in document.Operations().Where(o => o.OperationId == "Generate"))
        {
            operation.SetBodyExample(new JsonObject
            {
                ["className"] = engine.Model?.Classes.Entries[0].Names[0] ?? "golden retriever",
                ["steps"] = options.Value.DefaultSteps,
                ["seed"] = 42,
            });
            operation.AddOptionalHeader(ProgressStreams.RequestIdHeader,
                "Optional: publish this request's denoising steps to GET /generate/progress/{id} (subscribe first).");
        }
    }
}
