namespace DiT.Api.OpenApi;

/// <summary>The OpenAPI document and Swagger UI (section "Swagger").</summary>
public sealed class SwaggerOptions
{
    public const string Section = "Swagger";

    /// <summary>Serve /swagger and /swagger/v1/swagger.json. On by default; a deployment that wants no API browser turns it off.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Read at composition time: the endpoints exist or not.</summary>
    public static bool IsEnabled(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<SwaggerOptions>()?.Enabled ?? true;
}
