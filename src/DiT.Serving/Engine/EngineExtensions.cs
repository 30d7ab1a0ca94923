using DiT.Serving.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace DiT.Serving.Engine;

public static class EngineExtensions
{
    /// <summary>The engine singleton (also a hosted service: its thread loads the model at start) and its options.</summary>
    public static IServiceCollection AddInferenceEngine(this IServiceCollection services)
    {
        services.AddOptions<ModelOptions>().BindConfiguration(ModelOptions.Section)
            .PostConfigure(options => options.ResolveRelativePaths()).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ModelOptions>, ModelOptionsValidator>();
        services.AddOptions<EngineOptions>().BindConfiguration(EngineOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPipelineLoader, PipelineLoader>();
        services.AddSingleton<GenerationEngine>();
        services.AddSingleton<IImageGenerator>(sp => sp.GetRequiredService<GenerationEngine>());
        services.AddSingleton<IModelSwaps>(sp => sp.GetRequiredService<GenerationEngine>());
        services.AddHostedService(sp => sp.GetRequiredService<GenerationEngine>());
        return services;
    }
}
