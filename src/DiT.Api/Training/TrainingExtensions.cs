namespace DiT.Api.Training;

public static class TrainingExtensions
{
    /// <summary>Job store, validator, promotion record and the background job runner, with the "Training" options.</summary>
    public static IServiceCollection AddTrainingJobs(this IServiceCollection services)
    {
        services.AddOptions<TrainingJobsOptions>().BindConfiguration(TrainingJobsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<JobStore>();
        services.AddSingleton<ServedWeights>();
        services.AddSingleton<FinetuneValidator>();
        services.AddSingleton<TrainingJobRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<TrainingJobRunner>());
        return services;
    }
}
