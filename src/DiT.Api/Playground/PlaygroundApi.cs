namespace DiT.Api.Playground;

/// <summary>The browser face of the service: the playground page at / (wwwroot). It calls the /generate routes
/// (Generate/), which own their limits and progress streams.</summary>
public static class PlaygroundApi
{
    public static WebApplication MapPlayground(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles();
        return app;
    }
}
