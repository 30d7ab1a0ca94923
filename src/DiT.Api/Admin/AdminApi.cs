using DiT.Api.Options;
using DiT.Serving.Engine;
using Microsoft.Extensions.Options;

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
        // Without a key /admin does not exist for any method: routing would answer 405 (naming the allowed methods) to
        // a PUT on a GET endpoint before the key filter runs. This catch-all wins wherever no endpoint takes the method.
        if (!app.ServiceProvider.GetRequiredService<IOptions<AdminOptions>>().Value.Enabled)
            app.Map("/admin/{**rest}", () => TypedResults.NotFound()).ExcludeFromDescription();
        return app;
    }

    static Ok<EngineStats> GetEngineStats(IImageGenerator engine) => TypedResults.Ok(engine.Stats);
}
