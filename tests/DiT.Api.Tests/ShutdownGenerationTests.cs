using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DiT.Api.Tests;

/// <summary>
/// A shutdown signal (ApplicationStopping, as SIGTERM raises it) while requests wait for the engine: every request gets
/// an answer, its image when it finishes inside the drain window, else a 503 ProblemDetails; never a 500 or a lost request.
/// </summary>
public sealed class ShutdownGenerationTests
{
    /// <summary>One request at a time, so the later ones really wait in the queue. A drain window of 10 minutes is one
    /// no test reaches: the requests it lets finish are certain to finish inside it.</summary>
    static ApiFactory Serial(int shutdownSeconds = 600) => new ApiFactory()
        .With("Engine:MaxBatchSize", "1")
        .With("shutdownTimeoutSeconds", shutdownSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Lines up <paramref name="count"/> requests in the engine's queue, then lets the first of them run.</summary>
    static async Task<Task<HttpResponseMessage>[]> QueueAsync(ApiFactory factory, HttpClient client, int count, int steps)
    {
        using var hold = factory.Probe.Engine.HoldAdmissions();
        var requests = Enumerable.Range(0, count)
            .Select(i => client.GenerateAsync(new { classId = i % 4, steps, sampler = "ddpm", seed = i })).ToArray();
        await factory.Probe.EnteredAsync(count);
        return requests;
    }

    static void SignalShutdown(ApiFactory factory) =>
        factory.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();

    static async Task AssertStoppingProblem(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "a 503 while stopping must carry Retry-After");
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("Service stopping", problem.RootElement.GetProperty("title").GetString());
    }

    [Fact]
    public async Task QueuedRequestsFinishWithTheirImagesWhenTheShutdownWindowAllowsAndNewOnesGet503()
    {
        using var factory = Serial();
        var client = await factory.ReadyClientAsync();
        using var running = factory.Probe.GateAt(seed: null, step: 1);
        var requests = await QueueAsync(factory, client, count: 4, steps: 60);
        await running.Reached;

        SignalShutdown(factory);
        Assert.False(factory.Engine.IsReady, "the engine stops taking requests as soon as shutdown starts");
        var late = await client.GenerateAsync(new { classId = 0, steps = 2, seed = 9 });
        running.Release();

        var answers = await Task.WhenAll(requests).WaitAsync(Hang.Guard);
        Assert.All(answers, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(answers, r => Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType));
        await AssertStoppingProblem(late);
    }

    [Fact]
    public async Task RequestsTheShutdownWindowCannotFinishGet503ProblemDetailsNotErrors()
    {
        using var factory = Serial(shutdownSeconds: 1); // drain window 0.9 s
        var client = await factory.ReadyClientAsync();
        var engine = factory.Probe.Engine;
        using var running = factory.Probe.GateAt(seed: null, step: 1);
        var requests = await QueueAsync(factory, client, count: 5, steps: 20);
        await running.Reached;

        // The engine stands at the first request's first step until the drain window is over: nothing can finish.
        var windowOver = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = engine.DrainWindowEnded.Register(() => windowOver.SetResult());
        SignalShutdown(factory);
        await windowOver.Task.WaitAsync(Hang.Guard);
        running.Release();

        foreach (var response in await Task.WhenAll(requests).WaitAsync(Hang.Guard)) // a dropped connection fails here
            await AssertStoppingProblem(response);
    }

    [Fact]
    public async Task ReadinessTurnsUnavailableAsSoonAsShutdownStarts()
    {
        using var factory = Serial();
        var client = await factory.ReadyClientAsync();
        using var running = factory.Probe.GateAt(seed: null, step: 1);
        var requests = await QueueAsync(factory, client, count: 2, steps: 20);
        await running.Reached;

        SignalShutdown(factory);
        Assert.False(factory.Engine.IsReady); // ApplicationStopping closes the engine before the host stops anything
        var ready = await client.GetAsync("/health/ready");
        running.Release();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.All(await Task.WhenAll(requests).WaitAsync(Hang.Guard), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }
}
