using DiT.Diffusion;
using DiT.Serving.Engine;


namespace DiT.Api.Tests;

/// <summary>Step-level batching: rows join a running batch between steps and leave when done, without changing any image.</summary>
public sealed class ContinuousBatchingTests
{
    static ApiFactory Continuous() => new ApiFactory().With("Engine:Batching", "continuous");

    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.DpmSolverPP2M)]
    public async Task ARequestJoiningARunningBatchGivesTheSameImageAsAlone(SamplerKind sampler)
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        var first = new GenerationRequest(0, 4.0, 300, sampler, 1);
        var joiner = new GenerationRequest(2, 2.5, 300, sampler, 99);
        var twentyStepsIn = factory.Probe.GateAt(first.Seed, step: 20);

        var running = engine.GenerateAsync(first, null, CancellationToken.None);
        await twentyStepsIn.Reached;
        var joining = engine.GenerateAsync(joiner, null, CancellationToken.None); // queued while the engine stands at step 20
        twentyStepsIn.Release();
        var joined = await joining;
        var firstShared = await running;
        var joinerAlone = await engine.GenerateAsync(joiner, null, CancellationToken.None);
        var firstAlone = await engine.GenerateAsync(first, null, CancellationToken.None);

        Assert.Equal(2, joined.BatchSize);
        Assert.Equal(1, joinerAlone.BatchSize);
        Assert.Equal(joinerAlone.Image.Pixels, joined.Image.Pixels);
        Assert.Equal(firstAlone.Image.Pixels, firstShared.Image.Pixels);
    }

    [Fact]
    public async Task AShortRequestArrivingAfterALongOneFinishesFirst()
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        using var stopLong = new CancellationTokenSource();
        using var running = factory.Probe.GateAt(seed: 1, step: 5);
        using var stillRunning = factory.Probe.GateAt(seed: 1, step: 100); // the short one needs 3 steps, long before this

        var longRun = engine.GenerateAsync(new GenerationRequest(0, 4.0, 1000, SamplerKind.Ddpm, 1), null, stopLong.Token);
        await running.Reached;
        var shortRun = engine.GenerateAsync(new GenerationRequest(1, 4.0, 3, SamplerKind.Ddim, 2), null, CancellationToken.None);
        running.Release();
        await shortRun;

        Assert.False(longRun.IsCompleted, "the long request should still be running when the short one is done");
        await stopLong.CancelAsync();
        stillRunning.Release();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => longRun);
    }

    [Fact]
    public async Task CancellingOneRowLeavesTheOtherRowsImagesIntact()
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        var requests = Enumerable.Range(0, 3).Select(i => new GenerationRequest(i, 1.5 + i, 200, SamplerKind.Ddpm, 40 + i)).ToArray();
        using var leave = new CancellationTokenSource();
        using var midFlight = factory.Probe.GateAt(requests[0].Seed, step: 50);

        Task<GeneratedImage> kept, leaving, other;
        using (factory.Probe.Engine.HoldAdmissions()) // the three start together
        {
            kept = engine.GenerateAsync(requests[0], null, CancellationToken.None);
            leaving = engine.GenerateAsync(requests[1], null, leave.Token);
            other = engine.GenerateAsync(requests[2], null, CancellationToken.None);
        }
        await midFlight.Reached;
        Assert.Equal(3, engine.Stats.RunningRequests);
        await leave.CancelAsync();
        midFlight.Release();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        var results = await Task.WhenAll(kept, other);
        Assert.Equal((await engine.GenerateAsync(requests[0], null, CancellationToken.None)).Image.Pixels, results[0].Image.Pixels);
        Assert.Equal((await engine.GenerateAsync(requests[2], null, CancellationToken.None)).Image.Pixels, results[1].Image.Pixels);
    }

    [Fact]
    public async Task WholeAndContinuousBatchingGiveTheSameImages()
    {
        var requests = new[]
        {
            new GenerationRequest(0, 4.0, 7, SamplerKind.Ddpm, 3),
            new GenerationRequest(3, 1.0, 7, SamplerKind.Ddpm, 4),
            new GenerationRequest(1, 2.0, 5, SamplerKind.DpmSolverPP2M, 5),
        };
        using var whole = new ApiFactory().With("Engine:Batching", "whole");
        using var continuous = Continuous();
        await Task.WhenAll(whole.ReadyClientAsync(), continuous.ReadyClientAsync());

        var a = await Task.WhenAll(requests.Select(r => whole.Engine.GenerateAsync(r, null, CancellationToken.None)));
        var b = await Task.WhenAll(requests.Select(r => continuous.Engine.GenerateAsync(r, null, CancellationToken.None)));

        for (int i = 0; i < requests.Length; i++) Assert.Equal(a[i].Image.Pixels, b[i].Image.Pixels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task JoiningAndLeavingRowsLeaveNoTensorsBehind(bool withStepCaches)
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        await Round(0);
        var live = engine.Stats.LiveTensors;

        for (int round = 1; round <= 3; round++) await Round(round);

        Assert.Equal(live, engine.Stats.LiveTensors);

        async Task Round(int round)
        {
            using var leave = new CancellationTokenSource();
            using var joinAt = factory.Probe.GateAt(seed: round, step: 3);
            using var leaveAt = factory.Probe.GateAt(seed: round, step: 10);
            var first = engine.GenerateAsync(Cache(new GenerationRequest(0, 4.0, 200, SamplerKind.DpmSolverPP2M, round), "teacache:0.1"), null, CancellationToken.None);
            await joinAt.Reached; // the first row runs; the others join it between steps 3 and 4
            var leaving = engine.GenerateAsync(Cache(new GenerationRequest(1, 2.0, 200, SamplerKind.DpmSolverPP2M, 10 + round), "taylor:3"), null, leave.Token);
            var others = new[]
            {
                engine.GenerateAsync(Cache(new GenerationRequest(2, 1.0, 200, SamplerKind.DpmSolverPP2M, 20 + round), "fora:2"), null, CancellationToken.None),
                engine.GenerateAsync(Cache(new GenerationRequest(3, 3.0, 5, SamplerKind.Ddpm, 30 + round), "fora:3"), null, CancellationToken.None),
            };
            joinAt.Release();
            await leaveAt.Reached;
            Assert.True(engine.Stats.RunningRequests >= 3, "the rows joined");
            await leave.CancelAsync();
            leaveAt.Release();
            await Task.WhenAll(others.Append(first));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
            await factory.Probe.IdleAsync();
        }

        GenerationRequest Cache(GenerationRequest request, string cache) =>
            withStepCaches ? request with { Cache = DiT.Model.StepCaching.StepCacheSettings.Parse(cache) } : request;
    }
}
