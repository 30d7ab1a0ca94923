using System.Text.Json;
using System.Text.Json.Nodes;
using DiT.Api.OpenApi;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace DiT.Api.Generations;

/// <summary>
/// Swagger examples for every /generations operation, built for the served model (its first class name, the default
/// steps) so "Try it out" works as is: the request body, the Prefer and Idempotency-Key headers, the path parameters,
/// the job answers, the event stream and the problems. A document filter, so it runs after every operation filter.
/// </summary>
sealed class GenerationsOpenApi(IImageGenerator engine, IOptions<EngineOptions> engineOptions) : IDocumentFilter
{
    const string ExampleId = "3f2a9c0e5b7d4e1fa6c8b0d2e4f61738";

    public void Apply(OpenApiDocument document, DocumentFilterContext context)
    {
        foreach (var operation in document.Operations())
        {
            switch (operation.OperationId)
            {
                case "SubmitGeneration":
                    operation.SetBodyExample(new JsonObject { ["className"] = ClassName, ["n"] = 4, ["steps"] = Steps, ["seed"] = 42, ["format"] = "png" });
                    operation.AddOptionalHeader(RequestHeaders.Prefer, "Optional: hold the answer until the job ends, at most N seconds (201 when it did, else 202).", "wait=30");
                    operation.AddOptionalHeader(RequestHeaders.IdempotencyKey,
                        "Optional: a retried submit with the same key and body returns the original job (200); another body gets 422.",
                        "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d");
                    operation.SetResponseExample("202", Job("queued", imagesDone: 0));
                    operation.SetResponseExample("201", Job("succeeded", imagesDone: 4));
                    operation.SetResponseExample("200", Job("running", imagesDone: 1));
                    operation.SetResponseExample("422", Problem(422, "Idempotency-Key reused with another body",
                        $"This Idempotency-Key already made job {ExampleId} from a different body; send a new key for a new request."));
                    operation.SetResponseExample("400", Invalid("n", "n must be between 1 and 16."));
                    break;
                case "GetGeneration":
                    operation.SetResponseExample("200", Job("succeeded", imagesDone: 4));
                    break;
                case "CancelGeneration":
                    operation.SetResponseExample("200", Job("cancelled", imagesDone: 1));
                    operation.SetResponseExample("409", Problem(409, "Job already ended", $"Job {ExampleId} has already ended (succeeded); there is nothing to cancel."));
                    break;
                case "GenerationEvents":
                    operation.SetResponseExample("200", JsonValue.Create(
                        "event: job\ndata: {\"id\":\"" + ExampleId + "\",\"status\":\"queued\",...}\n\n" +
                        "event: progress\ndata: {\"status\":\"running\",\"imagesDone\":0,\"images\":4,\"stepsDone\":12,\"totalSteps\":" + 4 * Steps + "}\n\n" +
                        "event: image\ndata: {\"index\":0,\"seed\":42,\"url\":\"/generations/" + ExampleId + "/images/0\",...}\n\n" +
                        "event: end\ndata: {\"id\":\"" + ExampleId + "\",\"status\":\"succeeded\",...}\n\n"), "text/event-stream");
                    break;
                case "GetGenerationImage":
                    operation.SetResponseExample("409", Problem(409, "Image not ready", $"Image 3 of job {ExampleId} is not done yet; follow /generations/{ExampleId}/events or GET /generations/{ExampleId}."));
                    break;
                default:
                    continue;
            }
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
                parameter.Example = parameter.Name switch { "id" => ExampleId, "k" => "0", _ => parameter.Example };
            operation.SetResponseExample("404", Problem(404, "No such job", $"There is no generation job '{ExampleId}' (jobs are deleted Generations:Retention after they end)."));
            operation.SetResponseExample("429", Problem(429, "Too many requests", "This client has used its generations requests for now (RateLimits:Policies:generations); retry after 12 s."));
        }
    }

    string ClassName => engine.Model?.Classes.Entries[0].Names[0] ?? "golden retriever";
    int Steps => engineOptions.Value.DefaultSteps;

    JsonNode Job(string status, int imagesDone)
    {
        var created = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
        bool ended = status is "succeeded" or "cancelled";
        var images = Enumerable.Range(0, imagesDone).Select(k =>
            new GenerationImageView(k, 42 + k, GenerationsApi.ImageUrl(ExampleId, k), 256, 256, "image/png", 104_213, CacheHit: false)).ToArray();
        var view = new GenerationView(ExampleId, status,
            new GenerationRequestView(ClassId: 0, ClassName, GuidanceScale: engineOptions.Value.DefaultGuidanceScale,
                engineOptions.Value.DefaultInterval is { } gi ? [gi.Low, gi.High] : [], Steps, engineOptions.Value.DefaultSampler, engineOptions.Value.DefaultCache,
                Seed: 42, N: 4, Format: "png", Quality: null),
            new GenerationProgressView(imagesDone, 4, status == "succeeded" ? 4 * Steps : imagesDone * Steps, 4 * Steps), images, Error: null,
            new GenerationWebhookView("https://hooks.example.com/dit", ended ? "delivered" : "pending", ended ? 1 : 0, ended ? 200 : null, null),
            created, status == "queued" ? null : created.AddSeconds(1), ended ? created.AddSeconds(9) : null,
            ended ? created.AddSeconds(9).AddHours(1) : null,
            new GenerationLinks(GenerationsApi.JobUrl(ExampleId), GenerationsApi.JobUrl(ExampleId) + "/events"));
        return JsonSerializer.SerializeToNode(view, JsonSerializerOptions.Web)!;
    }

    static JsonNode Problem(int status, string title, string detail) =>
        new JsonObject { ["type"] = "https://tools.ietf.org/html/rfc9110", ["title"] = title, ["status"] = status, ["detail"] = detail };

    static JsonNode Invalid(string field, string message) =>
        new JsonObject { ["title"] = "Invalid generation request", ["status"] = 400, ["errors"] = new JsonObject { [field] = new JsonArray(message) } };
}
