using DiT.Serving.Engine;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DiT.Api.Health;

/// <summary>/health/live answers while the process runs; /health/ready once the model is loaded.</summary>
public static class HealthApi
{
    public const string ReadyTag = "ready";

    public static IServiceCollection AddHealth(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<ModelLoadedCheck>("model", tags: [ReadyTag]);
        return services;
    }

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag) });
        return app;
    }

    sealed class ModelLoadedCheck(IImageGenerator engine) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct) =>
            Task.FromResult(engine.Model is { } model && engine.IsReady
                ? HealthCheckResult.Healthy($"Serving {model.Name} ({model.Fingerprint}).")
                : HealthCheckResult.Unhealthy("The model is not loaded yet."));
    }
}
