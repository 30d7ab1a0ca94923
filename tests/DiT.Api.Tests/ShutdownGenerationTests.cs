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
    /// <summary>One request at a time, so the later ones really wait in the queue.</summary>
    static ApiFactory Serial(int shutdownSeconds) => new ApiFactory()
        .With("Engine:MaxBatchSize", "1").With("Engine:MaxBatchDelay", "00:00:00")
        .With("shutdownTimeoutSeconds", shutdownSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Fires <paramref name="count"/> requests and waits until all of them are queued or running.</summary>
    static async Task<Task<HttpResponseMessage>[]> QueueAsync(ApiFactory factory, HttpClient client, int count, int steps)
    {
        var requests = Enumerable.Range(0, count)
            .Select(i => client.GenerateAsync(new { classId = i % 4, steps, sampler = "ddpm", seed = i })).ToArray();
        await Waits.Until(() => factory.Engine.Stats.QueuedRequests + factory.Engine.Stats.RunningRequests == count, $"{count} requests are in the engine");
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
        using var factory = Serial(shutdownSeconds: 60);
        var client = await factory.ReadyClientAsync();
        var requests = await QueueAsync(factory, client, count: 4, steps: 60);

        SignalShutdown(factory);
        await Waits.Until(() => !factory.Engine.IsReady, "the engine stops taking requests");
        var late = await client.GenerateAsync(new { classId = 0, steps = 2, seed = 9 });

        var answers = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(answers, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(answers, r => Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType));
        await AssertStoppingProblem(late);
    }

    [Fact]
    public async Task RequestsTheShutdownWindowCannotFinishGet503ProblemDetailsNotErrors()
    {
        using var factory = Serial(shutdownSeconds: 1); // drain window 0.9 s; each request takes seconds
        var client = await factory.ReadyClientAsync();
        var requests = await QueueAsync(factory, client, count: 5, steps: 1000);

        SignalShutdown(factory);
        var outcomes = await Task.WhenAll(requests.Select(async r =>
        {
            var response = await r; // a dropped connection or a faulted request fails the test here
            if (response.StatusCode != HttpStatusCode.OK) await AssertStoppingProblem(response);
            return response.StatusCode;
        })).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Contains(HttpStatusCode.ServiceUnavailable, outcomes);
        Assert.All(outcomes, s => Assert.True(s is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"got {(int)s}"));
    }

    [Fact]
    public async Task ReadinessTurnsUnavailableAsSoonAsShutdownStarts()
    {
        using var factory = Serial(shutdownSeconds: 60);
        var client = await factory.ReadyClientAsync();
        var requests = await QueueAsync(factory, client, count: 2, steps: 200);

        SignalShutdown(factory);
        Assert.False(factory.Engine.IsReady); // ApplicationStopping closes the engine before the host stops anything
        var ready = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.All(await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(30)), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }
}
