namespace DiT.Api.Shutdown;

/// <summary>
/// Counts requests in the pipeline and, on shutdown, holds the host until they have written their answers (or the
/// shutdown timeout ends), so the container is not disposed under a response the engine has just finished. Kestrel
/// waits for its connections too; this makes it hold for any server (the in-memory test server included).
/// Registered before the engine, so it stops after it: by then every queued request has its image or its 503.
/// </summary>
public sealed class InFlightRequests : IHostedService
{
    /// <summary>How long answers may still take once the shutdown timeout has ended (see StopAsync).</summary>
    static readonly TimeSpan WriteGrace = TimeSpan.FromSeconds(5);

    readonly Lock _lock = new();
    int _count;
    TaskCompletionSource? _idle;

    public int Count => Volatile.Read(ref _count);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task idle;
        lock (_lock)
        {
            if (_count == 0) return;
            idle = (_idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        try { await idle.WaitAsync(cancellationToken); }
        catch (OperationCanceledException)
        {
            // The shutdown timeout has ended, but the engine, stopped before this, has answered every request (an
            // image or a 503): what is left is writing those answers. On a loaded machine that can take longer than
            // the margin the drain window leaves, and a container disposed under them turns a 503 into a 500.
            await Task.WhenAny(idle, Task.Delay(WriteGrace, CancellationToken.None));
        }
    }

    async Task Track(HttpContext context, RequestDelegate next)
    {
        lock (_lock) _count++;
        try { await next(context); }
        finally
        {
            lock (_lock)
                if (--_count == 0) _idle?.TrySetResult();
        }
    }

    public static Func<RequestDelegate, RequestDelegate> Middleware(InFlightRequests requests) =>
        next => context => requests.Track(context, next);
}

public static class InFlightRequestsExtensions
{
    /// <summary>Register before the engine (hosted services stop in reverse order).</summary>
    public static IServiceCollection AddInFlightRequests(this IServiceCollection services)
    {
        services.AddSingleton<InFlightRequests>();
        services.AddHostedService(sp => sp.GetRequiredService<InFlightRequests>());
        return services;
    }

    /// <summary>First in the pipeline, so the count covers error handling and the response write.</summary>
    public static WebApplication UseInFlightRequests(this WebApplication app)
    {
        app.Use(InFlightRequests.Middleware(app.Services.GetRequiredService<InFlightRequests>()));
        return app;
    }
}
