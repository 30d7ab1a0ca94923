using DiT.Api.Engine;
using DiT.Api.Options;

namespace DiT.Api.Admin;

/// <summary>/admin: operator endpoints behind the API key. Other features add their endpoints to <see cref="MapAdminGroup"/>.</summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminGroup(this IEndpointRouteBuilder app) =>
        app.MapGroup("/admin").AddEndpointFilter<ApiKeyFilter>().WithTags("Admin")
            .ProducesProblem(StatusCodes.Status401Unauthorized);

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapAdminGroup();
        admin.MapGet("/engine", GetEngineStats).WithName("GetEngineStats")
            .WithSummary("Engine queue and batch counters")
            .WithDescription($"Needs the {AdminOptions.ApiKeyHeader} header; 404 when Admin:ApiKey is not configured.");
        return app;
    }

    static Ok<EngineStats> GetEngineStats(IImageGenerator engine) => TypedResults.Ok(engine.Stats);
}
