using System.Text.Json.Nodes;
using DiT.Api.Problems;
using DiT.Serving.Engine;

namespace DiT.Api.ModelInfo;

/// <summary>GET /model: what is being served, where, and whether it is the untrained default.</summary>
public static class ModelApi
{
    public sealed record ModelResponse(string Name, JsonObject Config, long Parameters, double Gflops, string Device,
        string Dtype, string Fingerprint, string Source, bool IsUntrainedDefault, string Autoencoder,
        int ImageWidth, int ImageHeight, int ImageChannels, int NumClasses, string ClassNames);

    public static IEndpointRouteBuilder MapModelApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/model", GetModel).WithName("GetModel").WithTags("Model")
            .WithSummary("The served model: config, size, device, checkpoint fingerprint")
            .WithDescription("isUntrainedDefault is true while the service runs its built-in random-weight model (no checkpoint configured). " +
                             "source and classNames name files, never where they lie on the server.");
        return app;
    }

    static Results<Ok<ModelResponse>, ProblemHttpResult> GetModel(IImageGenerator engine) =>
        engine.Model is { } m
            ? TypedResults.Ok(new ModelResponse(m.Name, m.Config, m.Parameters, m.Gflops, m.Device, m.Dtype, m.Fingerprint,
                ServedModel.FileNameOf(m.Source), m.IsUntrainedDefault, m.Autoencoder, m.ImageWidth, m.ImageHeight, m.ImageChannels,
                m.Classes.Count, ServedModel.FileNameOf(m.Classes.Source)))
            : ProblemResults.NotReady();
}
