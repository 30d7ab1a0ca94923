using Microsoft.Extensions.DependencyInjection.Extensions;

namespace DiT.Api.Webhooks;

public static class WebhookExtensions
{
    /// <summary>The "Webhooks" options, the target policy and the background sender.</summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services)
    {
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<WebhookTargets>();
        services.AddSingleton<WebhookSender>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookSender>());
        return services;
    }
}
