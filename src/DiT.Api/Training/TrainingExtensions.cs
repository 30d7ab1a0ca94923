using DiT.Api.Options;

namespace DiT.Api.Training;

public static class TrainingExtensions
{
    /// <summary>Job store, validator and the background job runner, with the "Training" options.
    /// With Training:Enabled=false only the options (the promotions folder lies in the jobs folder by default). Needs AddPromotions.</summary>
    public static IServiceCollection AddTrainingJobs(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TrainingJobsOptions>().BindConfiguration(TrainingJobsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        if (!IsEnabled(configuration)) return services;
        services.AddSingleton<JobStore>();
        services.AddSingleton<FinetuneValidator>();
        services.AddSingleton<TrainingJobRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<TrainingJobRunner>());
        return services;
    }

    public static bool IsEnabled(IConfiguration configuration) =>
        configuration.GetSection(TrainingJobsOptions.Section).Get<TrainingJobsOptions>()?.Enabled ?? true;
}
