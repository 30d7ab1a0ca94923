using DiT.Api.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DiT.Api.Promotions;

public static class PromotionExtensions
{
    /// <summary>The "Promotions" options, the record of the served promotion, the promoter (the admin endpoint's and the
    /// fan-out's one way to serve a checkpoint; it publishes on the trainer) and the fan-out (every replica applies what the
    /// trainer publishes). Needs the "Training" options of AddTrainingJobs.</summary>
    public static IServiceCollection AddPromotions(this IServiceCollection services)
    {
        services.AddOptions<PromotionOptions>().BindConfiguration(PromotionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ServedWeights>();
        services.AddSingleton<PromotionChannel>();
        services.AddSingleton<PromotionFolder>();
        services.AddSingleton<ModelPromoter>();
        services.AddSingleton<PromotionFanOut>();
        services.AddHostedService(sp => sp.GetRequiredService<PromotionFanOut>());
        services.AddHealthChecks().AddCheck<CaughtUpCheck>("promotions", tags: [HealthApi.ReadyTag]);
        return services;
    }

    /// <summary>Not ready until a replica started after a promotion serves the promoted weights, not the base model.</summary>
    sealed class CaughtUpCheck(PromotionFanOut fanOut) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct) =>
            Task.FromResult(fanOut.CaughtUp
                ? HealthCheckResult.Healthy("Serving the latest promotion (or none was made).")
                : HealthCheckResult.Unhealthy("Applying the latest promotion."));
    }
}
