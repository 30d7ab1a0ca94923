using DiT.Api.Generations.Shared;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace DiT.Api.Generations;

public static class GenerationsExtensions
{
    /// <summary>The job store (in memory, or shared on Redis), validator, runner or worker and sweeper, their "Generations"
    /// options, and the Swagger examples. Needs AddImaging and AddWebhooks.</summary>
    public static IServiceCollection AddGenerations(this IServiceCollection services)
    {
        services.AddOptions<GenerationsOptions>().BindConfiguration(GenerationsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<GenerationsValidator>();
        services.AddSingleton<JobRendering>();
        services.AddSingleton<JobEnds>();
        // In memory (as before) unless a Redis is configured; both kinds are registered, one is used.
        services.AddSingleton<GenerationJobStore>();
        services.AddSingleton<GenerationJobRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<GenerationJobRunner>());
        services.AddHostedService<ExpiredJobSweeper>();
        services.AddSingleton<InProcessGenerationJobs>();
        services.AddSingleton<RedisJobConnection>();
        services.AddSingleton<RedisGenerationJobs>();
        services.AddSingleton<RedisJobWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisJobWorker>()); // does nothing without Redis
        services.AddSingleton<IGenerationJobs>(sp => sp.GetRequiredService<RedisJobConnection>().IsEnabled
            ? sp.GetRequiredService<RedisGenerationJobs>() : sp.GetRequiredService<InProcessGenerationJobs>());
        services.ConfigureSwaggerGen(o => o.DocumentFilter<GenerationsOpenApi>());
        return services;
    }
}
