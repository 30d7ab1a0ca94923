using System.Reflection;
using Microsoft.OpenApi;

namespace DiT.Api.OpenApi;

public static class SwaggerExtensions
{
    /// <summary>OpenAPI document with the XML comments (descriptions and &lt;example&gt;s of the request records), unless Swagger:Enabled is false.</summary>
    public static IServiceCollection AddSwagger(this IServiceCollection services, IConfiguration configuration)
    {
        if (!SwaggerOptions.IsEnabled(configuration)) return services;
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "DiT image service",
                Version = "v1",
                Description = "Class-conditional image generation with Diffusion Transformers. POST /generate returns a PNG; " +
                              "GET /classes lists the class ids and names; GET /model describes the served model.",
            });
            o.IncludeXmlComments(Assembly.GetExecutingAssembly());
            o.OperationFilter<JsonBodyOperationFilter>();
            o.AddSecurityDefinition(AdminApiKeyFilter.Scheme, AdminApiKeyFilter.Definition);
            o.OperationFilter<AdminApiKeyFilter>();
        });
        return services;
    }

    /// <summary>/swagger (UI) and /swagger/v1/swagger.json, unless Swagger:Enabled is false.</summary>
    public static WebApplication MapSwagger(this WebApplication app)
    {
        if (!SwaggerOptions.IsEnabled(app.Configuration)) return app;
        app.UseSwagger();
        app.UseSwaggerUI(o => o.DocumentTitle = "DiT image service");
        return app;
    }
}
