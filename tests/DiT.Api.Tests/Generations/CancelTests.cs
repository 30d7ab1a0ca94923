using System.Net;
using DiT.Api.Generations;

namespace DiT.Api.Tests.Generations;

/// <summary>DELETE /generations/{id}; where the order matters, the real engine is stopped at a step (<see cref="EngineProbe.GateAt"/>).</summary>
public sealed class CancelTests
{
    [Fact]
    public async Task CancellingARunningJobTakesItsImagesOutOfTheEngine()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        using var atFirstStep = factory.Probe.GateAt(seed: 5, step: 1); // image 0 (seed 5) holds the engine after its first step
        using var laterSteps = new CompositeDisposable([factory.Probe.GateAt(seed: 5, step: 2), factory.Probe.GateAt(seed: 6, step: 2)]);
        var job = await (await client.SubmitAsync(new { classId = 1, steps = 50, sampler = "ddim", seed = 5, n = 2 })).JobAsync();
        var events = await client.EventsAsync(job.Id);
        await atFirstStep.Reached;

        var response = await client.DeleteAsync($"/generations/{job.Id}");
        atFirstStep.Release();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cancelled = await response.JobAsync();
        Assert.Equal(("cancelled", 1, 0), (cancelled.Status, cancelled.Progress.StepsDone, cancelled.Images.Count));
        var end = (await events.UntilEndAsync())[^1];
        Assert.Equal(("end", "cancelled"), (end.EventType, end.Data<GenerationView>().Status));
        // Had either row stayed, it would have stopped the engine at its step-2 gate (never released), and the engine
        // would never be idle: idle means both rows were dropped after step 1.
        await factory.Probe.IdleAsync();
        Assert.Equal((0, 0L, 2L), (factory.Engine.Stats.RunningRequests, factory.Engine.Stats.ImagesGenerated, factory.Engine.Stats.RequestsCancelled));
    }

    [Fact]
    public async Task CancellingAQueuedJobEndsItAtOnceAndItNeverRuns()
    {
        using var factory = new ApiFactory().With("Generations:MaxRunningJobs", "1");
        var client = await factory.ReadyClientAsync();
        using var gate = factory.Probe.GateAt(seed: 1, step: 1); // the first job holds the one runner slot
        var running = await (await client.SubmitAsync(new { classId = 0, steps = 50, seed = 1 })).JobAsync();
        await gate.Reached;
        var queued = await (await client.SubmitAsync(new { classId = 0, steps = 50, seed = 2 })).JobAsync();
        Assert.Equal("queued", queued.Status);

        var response = await client.DeleteAsync($"/generations/{queued.Id}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cancelled = await response.JobAsync();
        Assert.Equal("cancelled", cancelled.Status);
        Assert.Null(cancelled.StartedAt);
        var image = await client.GetAsync($"/generations/{queued.Id}/images/0");
        Assert.Equal(HttpStatusCode.NotFound, image.StatusCode);
        Assert.Contains("ended (cancelled) before image 0", await image.Content.ReadAsStringAsync());

        var notReady = await client.GetAsync($"/generations/{running.Id}/images/0");
        Assert.Equal(HttpStatusCode.Conflict, notReady.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.DeleteAsync($"/generations/{running.Id}")).StatusCode);
        Assert.Equal(1, factory.Probe.Entered); // the cancelled job never reached the engine
    }

    [Fact]
    public async Task CancellingAFinishedJobIsAConflict()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        var job = await (await client.SubmitAsync(new { classId = 2, steps = 1 })).JobAsync();
        await factory.Job(job.Id).Ended;

        var response = await client.DeleteAsync($"/generations/{job.Id}");

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("already ended (succeeded)", await response.Content.ReadAsStringAsync());
        Assert.Equal("succeeded", (await (await client.GetAsync(job.Links.Self)).JobAsync()).Status);
    }
}

/// <summary>Disposes several gates together.</summary>
sealed class CompositeDisposable(IReadOnlyList<IDisposable> parts) : IDisposable
{
    public void Dispose()
    {
        foreach (var part in parts) part.Dispose();
    }
}
