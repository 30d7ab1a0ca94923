namespace DiT.Api.Options;

/// <summary>OpenTelemetry export (section "Telemetry"); OTEL_EXPORTER_OTLP_ENDPOINT also turns OTLP on.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>OTLP collector endpoint, e.g. http://localhost:4317; empty: no OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }

    public bool PrometheusEnabled { get; set; } = true;
}
