namespace DiT.Api.Problems;

/// <summary>Every error is ProblemDetails; unreadable requests a 4xx (<see cref="BadRequestExceptionHandler"/>), other exceptions a generic 500 with no exception text.</summary>
public static class ProblemsExtensions
{
    public static IServiceCollection AddProblems(this IServiceCollection services)
    {
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        return services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
            c.ProblemDetails.Extensions["traceId"] = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? c.HttpContext.TraceIdentifier);
    }

    public static WebApplication UseProblems(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }
}
