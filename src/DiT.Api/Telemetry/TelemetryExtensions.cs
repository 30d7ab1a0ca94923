using DiT.Api.Options;
using DiT.Serving.Telemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace DiT.Api.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>Traces (ASP.NET Core + the engine's spans) and metrics (ASP.NET Core, runtime, the service's Meter);
    /// Prometheus scrape at /metrics; OTLP when Telemetry:OtlpEndpoint or OTEL_EXPORTER_OTLP_ENDPOINT is set.</summary>
    public static IServiceCollection AddDiTTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section);
        services.AddSingleton<DiTTelemetry>();
        var options = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        // appsettings.json has OtlpEndpoint "" (not null): fall back to the standard variable on empty too.
        var otlp = string.IsNullOrWhiteSpace(options.OtlpEndpoint) ? configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] : options.OtlpEndpoint;

        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("dit-api"))
            .WithTracing(t => t.AddSource(DiTTelemetry.Name).AddAspNetCoreInstrumentation(o =>
                o.Filter = http => !http.Request.Path.StartsWithSegments("/metrics") && !http.Request.Path.StartsWithSegments("/health")))
            .WithMetrics(m =>
            {
                m.AddMeter(DiTTelemetry.Name).AddAspNetCoreInstrumentation().AddRuntimeInstrumentation();
                if (options.PrometheusEnabled) m.AddPrometheusExporter();
            });
        if (!string.IsNullOrWhiteSpace(otlp))
        {
            var endpoint = new Uri(otlp);
            otel.WithTracing(t => t.AddOtlpExporter(o => o.Endpoint = endpoint))
                .WithMetrics(m => m.AddOtlpExporter(o => o.Endpoint = endpoint));
        }
        return services;
    }

    public static WebApplication MapDiTTelemetry(this WebApplication app)
    {
        if (app.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>()?.PrometheusEnabled ?? true)
            app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
