namespace DiT.Api.Training;

public static class TrainingExtensions
{
    /// <summary>Job store, validator, promotion record and the background job runner, with the "Training" options.
    /// With Training:Enabled=false only the options and the promotion record (promotions still arrive from the trainer).</summary>
    public static IServiceCollection AddTrainingJobs(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TrainingJobsOptions>().BindConfiguration(TrainingJobsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ServedWeights>();
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
