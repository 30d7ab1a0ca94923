using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using DiT.Diffusion;
using DiT.Serving.Engine;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests;

public sealed class EngineTests
{
    [Fact]
    public async Task SwapModelServesTheNewWeightsUnderTheNewFingerprint()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        var engine = factory.Services.GetRequiredService<GenerationEngine>();
        var body = new { classId = 1, steps = 2, seed = 21 };
        var before = await client.GenerateAsync(body);

        await engine.SwapModelAsync(DefaultModel.RandomWeights(ApiFactory.TinyConfig, seed: 8), "fine-tuned-1");
        var after = await client.GenerateAsync(body);
        using var model = JsonDocument.Parse(await client.GetStringAsync("/model"));

        Assert.Equal("fine-tuned-1", after.Header("X-Model-Fingerprint"));
        Assert.Equal("fine-tuned-1", model.RootElement.GetProperty("fingerprint").GetString());
        Assert.NotEqual(await before.Content.ReadAsByteArrayAsync(), await after.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task SwapModelWithAnotherImageShapeIsRefusedAndTheOldModelKeepsServing()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        var engine = factory.Services.GetRequiredService<GenerationEngine>();
        using var wrong = DefaultModel.RandomWeights(ApiFactory.TinyConfig with { InputSize = 16 }, seed: 1);

        await Assert.ThrowsAsync<ArgumentException>(() => engine.SwapModelAsync(wrong, "wrong"));
        var response = await client.GenerateAsync(new { classId = 1, steps = 1, seed = 1 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual("wrong", response.Header("X-Model-Fingerprint"));
    }

    [Fact]
    public async Task ProgressReportsEveryStepOfTheRequest()
    {
        using var factory = new ApiFactory();
        await factory.ReadyClientAsync();
        var steps = new ConcurrentQueue<SamplingProgress>();

        await factory.Engine.GenerateAsync(new GenerationRequest(0, 2.0, 3, SamplerKind.Ddim, 5), new Recorder(steps), CancellationToken.None);

        Assert.Equal([new(1, 3), new(2, 3), new(3, 3)], steps.ToArray());
    }

    sealed class Recorder(ConcurrentQueue<SamplingProgress> into) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value) => into.Enqueue(value);
    }

    [Fact]
    public async Task BatchesLeaveNoTensorsBehindOnTheEngineThread()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => client.GenerateAsync(new { classId = i, steps = 2, seed = i })));
        await factory.Probe.IdleAsync();
        var live = factory.Engine.Stats.LiveTensors;

        for (int round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 3).Select(i => client.GenerateAsync(new { classId = i, guidanceScale = 1 + i, steps = 2, seed = 10 * round + i })));
            await factory.Probe.IdleAsync();
        }

        Assert.True(factory.Engine.Stats.BatchesRun >= 4);
        Assert.Equal(live, factory.Engine.Stats.LiveTensors);
    }

    /// <summary>Finding 8: models loaded on another thread and disposed on the engine's made the count go negative
    /// (-7,413 after promotions); the stat counts only what the engine's own work leaves behind.</summary>
    [Fact]
    public async Task LiveTensorsStayFlatAndNonNegativeAcrossModelSwaps()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        var engine = factory.Services.GetRequiredService<GenerationEngine>();
        await client.GenerateAsync(new { classId = 0, steps = 2, seed = 1 });
        var live = factory.Engine.Stats.LiveTensors;

        for (int i = 0; i < 3; i++) // each model is made on this thread; the engine disposes the one it replaces
            await engine.SwapModelAsync(DefaultModel.RandomWeights(ApiFactory.TinyConfig, seed: (ulong)(20 + i)), $"swapped-{i}");
        Assert.Equal(live, factory.Engine.Stats.LiveTensors);
        await client.GenerateAsync(new { classId = 1, steps = 2, seed = 2 });

        Assert.True(live >= 0, $"live tensors {live}");
        Assert.Equal(live, factory.Engine.Stats.LiveTensors);
    }

    [Fact]
    public async Task ABatchInFlightFinishesOnTheOldWeightsWhenAModelIsSwappedIn()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        var engine = factory.Services.GetRequiredService<GenerationEngine>();
        var oldFingerprint = factory.Engine.Model!.Fingerprint;
        using var midRun = factory.Probe.GateAt(seed: 1, step: 5);

        var inFlight = client.GenerateAsync(new { classId = 0, steps = 50, sampler = "ddpm", seed = 1 });
        await midRun.Reached;
        var swapped = engine.SwapModelAsync(DefaultModel.RandomWeights(ApiFactory.TinyConfig, seed: 9), "fine-tuned-2");
        midRun.Release();
        await swapped;

        Assert.Equal(oldFingerprint, (await inFlight).Header("X-Model-Fingerprint"));
        Assert.Equal("fine-tuned-2", (await client.GenerateAsync(new { classId = 0, steps = 1, seed = 1 })).Header("X-Model-Fingerprint"));
    }

    [Fact]
    public async Task AClientLeavingABatchDoesNotDisturbTheOthers()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        using var leaving = new CancellationTokenSource();
        using var midBatch = factory.Probe.GateAt(seed: 1, step: 10);

        Task<HttpResponseMessage> gone;
        Task<HttpResponseMessage>[] staying;
        using (factory.Probe.Engine.HoldAdmissions())
        {
            gone = client.GenerateAsync(new { classId = 0, steps = 50, sampler = "ddpm", seed = 1 }, leaving.Token);
            staying = [client.GenerateAsync(new { classId = 0, steps = 50, sampler = "ddpm", seed = 2 }),
                client.GenerateAsync(new { classId = 0, steps = 50, sampler = "ddpm", seed = 3 })];
            await factory.Probe.EnteredAsync(3);
        }
        await midBatch.Reached;
        Assert.Equal(3, factory.Engine.Stats.RunningRequests);
        leaving.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone); // answered while the batch stands at step 10
        midBatch.Release();
        foreach (var response in await Task.WhenAll(staying))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("3", response.Header("X-Batch-Size"));
        }
    }
}
