using System.Net;
using DiT.Api.Generations;

namespace DiT.Api.Tests.Generations;

/// <summary>DELETE /generations/{id} with the real engine held still (<see cref="EngineHold"/>) where the order matters.</summary>
public sealed class CancelTests
{
    [Fact]
    public async Task CancellingARunningJobTakesItsImagesOutOfTheEngine()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        bool jobRowsAdmitted = false;
        // The holder waits at its first step until the job's 2 images are in the engine; in the round they run it notes
        // them, they take their first step, and at the next round it holds the engine: the job is 1-2 of 1000 steps in.
        await using var hold = EngineHold.Start(factory.Engine, others: 2, holdWhen: (_, stats) =>
        {
            if (jobRowsAdmitted) return true;
            jobRowsAdmitted = stats.RunningRequests >= 3;
            return false;
        });
        var job = await (await client.SubmitAsync(new { classId = 1, steps = 1000, sampler = "ddim", seed = 5, n = 2 })).JobAsync();
        var events = await client.EventsAsync(job.Id);
        await hold.Holding;
        var seen = (await events.NextAsync()).Data<GenerationView>().Progress.StepsDone; // "job": it may have stepped already
        while (seen == 0) seen = (await events.NextAsync()).Data<GenerationsApi.GenerationProgressEvent>().StepsDone;

        var response = await client.DeleteAsync($"/generations/{job.Id}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cancelled = await response.JobAsync();
        Assert.Equal("cancelled", cancelled.Status);
        Assert.Empty(cancelled.Images);
        Assert.InRange(cancelled.Progress.StepsDone, 1, 4);
        Assert.True(factory.Engine.Stats.RequestsCancelled >= 2, "both images left the engine's await");
        var end = (await events.UntilEndAsync())[^1];
        Assert.Equal(("end", "cancelled"), (end.EventType, end.Data<GenerationView>().Status));

        hold.Release();
        var engine = await hold.AloneAfterRelease.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(1, engine.RunningRequests); // only the holder: the engine dropped the job's rows
        Assert.Equal(0, engine.ImagesGenerated); // and they never finished
    }

    [Fact]
    public async Task CancellingAQueuedJobEndsItAtOnceAndItNeverRuns()
    {
        using var factory = new ApiFactory().With("Generations:MaxRunningJobs", "1");
        var client = await factory.ReadyClientAsync();
        await using var hold = EngineHold.Start(factory.Engine, others: 1); // holds once the first job's image is in the engine
        var running = await (await client.SubmitAsync(new { classId = 0, steps = 50, seed = 1 })).JobAsync();
        await hold.Holding;
        var queued = await (await client.SubmitAsync(new { classId = 0, steps = 50, seed = 2 })).JobAsync();
        Assert.Equal("queued", queued.Status); // the one runner slot is busy with the first job

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
