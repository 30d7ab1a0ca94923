namespace DiT.Api.Promotions;

public static class PromotionExtensions
{
    /// <summary>The "Promotions" options and the fan-out (publisher for the trainer, subscriber on every replica).</summary>
    public static IServiceCollection AddPromotionFanOut(this IServiceCollection services)
    {
        services.AddOptions<PromotionOptions>().BindConfiguration(PromotionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<PromotionFanOut>();
        services.AddHostedService(sp => sp.GetRequiredService<PromotionFanOut>());
        return services;
    }
}
