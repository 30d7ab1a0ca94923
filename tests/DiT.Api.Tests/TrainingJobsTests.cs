using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using DiT.Model.Checkpoints;
using static DiT.Api.Tests.TrainingHttp;

namespace DiT.Api.Tests;

public sealed class TrainingJobsTests(TrainingData data) : IClassFixture<TrainingData>
{
    object QuickJob(int steps, int checkpointEvery = 1000) => new
    {
        data = data.Good, steps, batchSize = 4, learningRate = 1e-3, emaDecay = 0.5, checkpointEvery, seed = 3,
    };

    [Fact]
    public async Task FinetuneRunsToCompletionAndPromotionSwapsTheServedWeightsWhileRequestsSucceed()
    {
        using var factory = data.Factory();
        var client = await TrainingData.AdminClientAsync(factory);
        var id = await client.StartJobAsync(QuickJob(steps: 6, checkpointEvery: 3));
        var job = await client.WaitForJobAsync(id, InState("completed"));
        Assert.Equal(6, job.GetProperty("step").GetInt64());
        Assert.True(job.GetProperty("loss").GetDouble() > 0);
        var checkpoint = job.GetProperty("latestCheckpoint").GetString()!;
        Assert.EndsWith("0000006.safetensors", checkpoint);
        Assert.Contains(id, (await client.GetStringAsync("/admin/jobs")));

        var fixedSeed = new { classId = 1, seed = 11, steps = 3 };
        var before = await (await client.GenerateAsync(fixedSeed)).Content.ReadAsByteArrayAsync();
        var during = Enumerable.Range(0, 6).Select(i => client.GenerateAsync(new { classId = i % 4, seed = i, steps = 3 })).ToArray();
        var promote = await client.PostAsync($"/admin/jobs/{id}/promote", null);
        Assert.True(promote.StatusCode == HttpStatusCode.OK, await promote.Content.ReadAsStringAsync());
        Assert.All(await Task.WhenAll(during), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        var after = await client.GenerateAsync(fixedSeed);
        Assert.Equal((await promote.JsonAsync()).GetProperty("fingerprint").GetString(), after.Header("X-Model-Fingerprint"));
        Assert.NotEqual(before, await after.Content.ReadAsByteArrayAsync());

        // A job's checkpoint is also a servable model file on its own (DiTCheckpoint picks the EMA weights).
        using var served = new ApiFactory().With("Model:CheckpointPath", checkpoint);
        var fresh = await served.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await fresh.GenerateAsync(fixedSeed)).StatusCode);
    }

    [Fact]
    public async Task GenerationDuringARunningJobCompletesQuicklyAndCancelThenResumeContinuesFromTheCheckpoint()
    {
        using var factory = data.Factory();
        var client = await TrainingData.AdminClientAsync(factory);
        var id = await client.StartJobAsync(QuickJob(steps: 1_000_000));
        await client.WaitForJobAsync(id, TrainingFrom(minStep: 2));

        for (int i = 0; i < 5; i++)
        {
            var response = await client.GenerateAsync(new { classId = i % 4, seed = i, steps = 3 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal("running", (await client.JobAsync(id)).GetProperty("state").GetString());

        Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/admin/jobs/{id}")).StatusCode);
        var cancelled = await client.WaitForJobAsync(id, InState("cancelled"));
        var checkpoint = cancelled.GetProperty("latestCheckpoint").GetString()!;
        long savedStep = long.Parse(Safetensors.ReadHeader(checkpoint).Metadata["step"]);
        Assert.Equal(cancelled.GetProperty("step").GetInt64(), savedStep);
        Assert.Equal(HttpStatusCode.Conflict, (await client.DeleteAsync($"/admin/jobs/{id}")).StatusCode);

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync($"/admin/jobs/{id}/resume", null)).StatusCode);
        var resumed = await client.WaitForJobAsync(id, TrainingFrom(minStep: savedStep + 1));
        Assert.Equal("running", resumed.GetProperty("state").GetString());
        await client.DeleteAsync($"/admin/jobs/{id}");
        await client.WaitForJobAsync(id, InState("cancelled"));
    }

    [Fact]
    public async Task JobRunningWhenTheServiceStopsIsInterruptedAfterRestartAndCanBeResumed()
    {
        var jobs = Path.Combine(data.Root, "jobs-restart");
        string id;
        using (var first = data.Factory(jobs))
        {
            var client = await TrainingData.AdminClientAsync(first);
            id = await client.StartJobAsync(QuickJob(steps: 40));
            await client.WaitForJobAsync(id, TrainingFrom(minStep: 2));
        } // host stops: the job saves a checkpoint

        using var second = data.Factory(jobs);
        var again = await TrainingData.AdminClientAsync(second);
        var interrupted = await again.JobAsync(id);
        Assert.Equal("interrupted", interrupted.GetProperty("state").GetString());
        Assert.Contains("resume", interrupted.GetProperty("error").GetString());
        long stoppedAt = interrupted.GetProperty("step").GetInt64();

        Assert.Equal(HttpStatusCode.Accepted, (await again.PostAsync($"/admin/jobs/{id}/resume", null)).StatusCode);
        var done = await again.WaitForJobAsync(id, InState("completed"));
        Assert.Equal(40, done.GetProperty("step").GetInt64());
        Assert.True(stoppedAt >= 2);
    }

    [Fact]
    public async Task UnknownJobIsNotFoundAndPromotingWithoutACheckpointConflicts()
    {
        using var factory = data.Factory();
        var client = await TrainingData.AdminClientAsync(factory);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/admin/jobs/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync("/admin/jobs/nope/promote", null)).StatusCode);
        var id = await client.StartJobAsync(QuickJob(steps: 1_000_000));
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync($"/admin/jobs/{id}/promote", null)).StatusCode);
        await client.DeleteAsync($"/admin/jobs/{id}");
        await client.WaitForJobAsync(id, InState("cancelled"));
    }

    [Fact]
    public async Task FinetuneNeedsTheAdminKey()
    {
        using var factory = data.Factory();
        var client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsJsonAsync("/admin/finetune", QuickJob(5))).StatusCode);
    }
}
