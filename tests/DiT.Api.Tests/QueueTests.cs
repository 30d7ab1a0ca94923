using System.Net;

namespace DiT.Api.Tests;

public sealed class QueueTests
{
    [Fact]
    public async Task FullQueueAnswers429WithRetryAfterAndCancelledRequestsLeaveTheEngine()
    {
        using var factory = new ApiFactory().With("Engine:QueueCapacity", "1").With("Engine:MaxBatchSize", "1");
        var client = await factory.ReadyClientAsync();
        var slow = new { classId = 0, steps = 50, sampler = "ddpm", seed = 1 };
        using var cancel = new CancellationTokenSource();
        using var runs = factory.Probe.GateAt(seed: 1, step: 5);

        var running = client.GenerateAsync(slow, cancel.Token);
        await runs.Reached;
        var queued = client.GenerateAsync(slow, cancel.Token);
        await factory.Probe.EnteredAsync(2);
        Assert.Equal((1, 1), (factory.Engine.Stats.RunningRequests, factory.Engine.Stats.QueuedRequests));

        var rejected = await client.GenerateAsync(slow);
        Assert.Equal((HttpStatusCode)429, rejected.StatusCode);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType?.MediaType);
        Assert.True(rejected.Headers.RetryAfter?.Delta > TimeSpan.Zero, "429 must carry Retry-After");

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        runs.Release();
        await factory.Probe.IdleAsync();

        var after = await client.GenerateAsync(new { classId = 0, steps = 2, seed = 1 });
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.True(factory.Engine.Stats.RequestsCancelled >= 2);
    }

    [Fact]
    public async Task ARequestThatTimesOutGets504AndLeavesTheEngine()
    {
        using var factory = new ApiFactory().With("Engine:RequestTimeout", "00:00:00.300");
        var client = await factory.ReadyClientAsync();
        using var stuck = factory.Probe.GateAt(seed: 1, step: 1); // the engine cannot finish before the timeout

        var response = await client.GenerateAsync(new { classId = 0, steps = 20, sampler = "ddpm", seed = 1 });
        stuck.Release();

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await factory.Probe.IdleAsync();
        Assert.Equal(1, factory.Engine.Stats.RequestsCancelled);
    }
}
