namespace DiT.Api.Imaging;

public static class ImagingExtensions
{
    /// <summary>The renderer shared by /generate and the generation jobs, and the "Output" options.</summary>
    public static IServiceCollection AddImaging(this IServiceCollection services)
    {
        services.AddOptions<OutputOptions>().BindConfiguration(OutputOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ImageRenderer>();
        return services;
    }
}
