using DiT.Api.Engine;

namespace DiT.Api.Tests;

/// <summary>Step-level batching: rows join a running batch between steps and leave when done, without changing any image.</summary>
public sealed class ContinuousBatchingTests
{
    static ApiFactory Continuous() => new ApiFactory().With("Engine:Batching", "continuous").With("Engine:MaxBatchDelay", "00:00:00");

    [Theory]
    [InlineData(Sampler.Ddpm)]
    [InlineData(Sampler.Ddim)]
    [InlineData(Sampler.DpmPP2M)]
    public async Task ARequestJoiningARunningBatchGivesTheSameImageAsAlone(Sampler sampler)
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        var first = new GenerationRequest(0, 4.0, 300, sampler, 1);
        var joiner = new GenerationRequest(2, 2.5, 300, sampler, 99);
        var firstProgress = new LastStep();

        var running = engine.GenerateAsync(first, firstProgress, CancellationToken.None);
        await Waits.Until(() => firstProgress.Step >= 20, "the first request is 20 steps in");
        var joined = await engine.GenerateAsync(joiner, null, CancellationToken.None);
        var firstShared = await running;
        var joinerAlone = await engine.GenerateAsync(joiner, null, CancellationToken.None);
        var firstAlone = await engine.GenerateAsync(first, null, CancellationToken.None);

        Assert.Equal(2, joined.BatchSize);
        Assert.Equal(1, joinerAlone.BatchSize);
        Assert.Equal(joinerAlone.Png, joined.Png);
        Assert.Equal(firstAlone.Png, firstShared.Png);
    }

    [Fact]
    public async Task AShortRequestArrivingAfterALongOneFinishesFirst()
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        using var stopLong = new CancellationTokenSource();
        var longProgress = new LastStep();

        var longRun = engine.GenerateAsync(new GenerationRequest(0, 4.0, 1000, Sampler.Ddpm, 1), longProgress, stopLong.Token);
        await Waits.Until(() => longProgress.Step >= 5, "the long request runs");
        var shortRun = await engine.GenerateAsync(new GenerationRequest(1, 4.0, 3, Sampler.Ddim, 2), null, CancellationToken.None);

        Assert.False(longRun.IsCompleted, "the long request should still be running when the short one is done");
        Assert.True(longProgress.Step < 1000);
        await stopLong.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => longRun);
    }

    [Fact]
    public async Task CancellingOneRowLeavesTheOtherRowsImagesIntact()
    {
        using var factory = Continuous();
        await factory.ReadyClientAsync();
        var engine = factory.Engine;
        var requests = Enumerable.Range(0, 3).Select(i => new GenerationRequest(i, 1.5 + i, 200, Sampler.Ddpm, 40 + i)).ToArray();
        using var leave = new CancellationTokenSource();
        var progress = new LastStep();

        var kept = engine.GenerateAsync(requests[0], progress, CancellationToken.None);
        var leaving = engine.GenerateAsync(requests[1], null, leave.Token);
        var other = engine.GenerateAsync(requests[2], null, CancellationToken.None);
        await Waits.Until(() => engine.Stats.RunningRequests == 3, "the three requests run together");
        var stepAtCancel = progress.Step;
        await leave.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        var results = await Task.WhenAll(kept, other);
        Assert.True(stepAtCancel < 200, "the row should leave mid-flight");
        Assert.Equal((await engine.GenerateAsync(requests[0], null, CancellationToken.None)).Png, results[0].Png);
        Assert.Equal((await engine.GenerateAsync(requests[2], null, CancellationToken.None)).Png, results[1].Png);
    }

    [Fact]
    public async Task WholeAndContinuousBatchingGiveTheSameImages()
    {
        var requests = new[]
        {
            new GenerationRequest(0, 4.0, 7, Sampler.Ddpm, 3),
            new GenerationRequest(3, 1.0, 7, Sampler.Ddpm, 4),
            new GenerationRequest(1, 2.0, 5, Sampler.DpmPP2M, 5),
        };
        using var whole = new ApiFactory().With("Engine:Batching", "whole");
        using var continuous = Continuous();
        await Task.WhenAll(whole.ReadyClientAsync(), continuous.ReadyClientAsync());

        var a = await Task.WhenAll(requests.Select(r => whole.Engine.GenerateAsync(r, null, CancellationToken.None)));
        var b = await Task.WhenAll(requests.Select(r => continuous.Engine.GenerateAsync(r, null, CancellationToken.None)));

        for (int i = 0; i < requests.Length; i++) Assert.Equal(a[i].Png, b[i].Png);
    }

    [Fact]
    public async Task JoiningAndLeavingRowsLeaveNoTensorsBehind()
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
            var progress = new LastStep();
            var first = engine.GenerateAsync(new GenerationRequest(0, 4.0, 200, Sampler.DpmPP2M, round), progress, CancellationToken.None);
            await Waits.Until(() => progress.Step >= 3, "the first row runs");
            var leaving = engine.GenerateAsync(new GenerationRequest(1, 2.0, 200, Sampler.DpmPP2M, 10 + round), null, leave.Token);
            var others = new[]
            {
                engine.GenerateAsync(new GenerationRequest(2, 1.0, 200, Sampler.DpmPP2M, 20 + round), null, CancellationToken.None),
                engine.GenerateAsync(new GenerationRequest(3, 3.0, 5, Sampler.Ddpm, 30 + round), null, CancellationToken.None),
            };
            await Waits.Until(() => engine.Stats.RunningRequests >= 3, "rows join");
            await leave.CancelAsync();
            await Task.WhenAll(others.Append(first));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
            await Waits.Until(() => engine.Stats.RunningRequests == 0, "the engine is idle");
        }
    }

    /// <summary>The last step reported (reports come synchronously from the engine thread).</summary>
    sealed class LastStep : IProgress<SamplingProgress>
    {
        int _step;
        public int Step => Volatile.Read(ref _step);
        public void Report(SamplingProgress value) => Volatile.Write(ref _step, value.Step);
    }
}
