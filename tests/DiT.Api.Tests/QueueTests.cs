using System.Net;

namespace DiT.Api.Tests;

public sealed class QueueTests
{
    static async Task WaitUntil(Func<bool> condition, string what)
    {
        for (int i = 0; i < 400 && !condition(); i++) await Task.Delay(25);
        Assert.True(condition(), $"timed out waiting until {what}");
    }

    [Fact]
    public async Task FullQueueAnswers429WithRetryAfterAndCancelledRequestsLeaveTheEngine()
    {
        using var factory = new ApiFactory()
            .With("Engine:QueueCapacity", "1").With("Engine:MaxBatchSize", "1").With("Engine:MaxBatchDelay", "00:00:00");
        var client = await factory.ReadyClientAsync();
        var slow = new { classId = 0, steps = 1000, sampler = "ddpm", seed = 1 }; // seconds on this tiny model
        using var cancel = new CancellationTokenSource();

        var running = client.GenerateAsync(slow, cancel.Token);
        await WaitUntil(() => factory.Engine.Stats.RunningRequests == 1, "the first request runs");
        var queued = client.GenerateAsync(slow, cancel.Token);
        await WaitUntil(() => factory.Engine.Stats.QueuedRequests == 1, "the second request waits");

        var rejected = await client.GenerateAsync(slow);
        Assert.Equal((HttpStatusCode)429, rejected.StatusCode);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType?.MediaType);
        Assert.True(rejected.Headers.RetryAfter?.Delta > TimeSpan.Zero, "429 must carry Retry-After");

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        await WaitUntil(() => factory.Engine.Stats is { RunningRequests: 0, QueuedRequests: 0 }, "the engine is idle again");

        var after = await client.GenerateAsync(new { classId = 0, steps = 2, seed = 1 });
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.True(factory.Engine.Stats.RequestsCancelled >= 2);
    }
}
