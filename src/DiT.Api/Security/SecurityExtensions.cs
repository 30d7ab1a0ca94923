using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace DiT.Api.Security;

public static class SecurityExtensions
{
    /// <summary>The "Security" and "Server" options, and Kestrel without its Server header and with the configured limits.</summary>
    public static IServiceCollection AddSecurity(this IServiceCollection services)
    {
        services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerOptions>>((kestrel, server) =>
        {
            var limits = server.Value;
            kestrel.AddServerHeader = false; // "Server: Kestrel" tells an attacker which exploits to try
            kestrel.Limits.MinRequestBodyDataRate = limits.MinRequestBodyBytesPerSecond > 0
                ? new MinDataRate(limits.MinRequestBodyBytesPerSecond, limits.MinRequestBodyGracePeriod) : null;
            kestrel.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
        });
        return services;
    }

    /// <summary>Adds the configured security headers to every response, errors included (set when the response starts,
    /// so the exception handler's clearing of headers cannot drop them).</summary>
    public static WebApplication UseSecurityHeaders(this WebApplication app)
    {
        var headers = app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value.Headers().ToArray();
        app.Use((context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                foreach (var (name, value) in headers) context.Response.Headers[name] = value;
                return Task.CompletedTask;
            });
            return next(context);
        });
        return app;
    }
}
