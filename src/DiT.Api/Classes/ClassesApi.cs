using DiT.Serving.Classes;
using DiT.Serving.Engine;


namespace DiT.Api.Classes;

/// <summary>GET /classes: the served model's class ids and names.</summary>
public static class ClassesApi
{
    public sealed record ClassesResponse(string Source, int Count, IReadOnlyList<ClassEntry> Classes);

    public static IEndpointRouteBuilder MapClassesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/classes", GetClasses).WithName("GetClasses").WithTags("Model")
            .WithSummary("Class ids and names of the served model")
            .WithDescription("Each class lists its name first, then synonyms; /generate accepts any of them as className (case-insensitive).");
        return app;
    }

    static Results<Ok<ClassesResponse>, ProblemHttpResult> GetClasses(IImageGenerator engine) =>
        engine.Model is { } model
            ? TypedResults.Ok(new ClassesResponse(ServedModel.FileNameOf(model.Classes.Source), model.Classes.Count, model.Classes.Entries))
            : Problems.ProblemResults.NotReady();
}
