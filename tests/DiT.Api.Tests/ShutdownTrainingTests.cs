using System.Net;
using DiT.Api.Training;
using DiT.Model.Checkpoints;
using Microsoft.Extensions.DependencyInjection;
using static DiT.Api.Tests.TrainingHttp;

namespace DiT.Api.Tests;

/// <summary>A shutdown signal during a fine-tuning job loses no training: the job checkpoints, shows "interrupted" after a
/// restart, and resumes from that checkpoint's step (not from the start).</summary>
public sealed class ShutdownTrainingTests(TrainingData data) : IClassFixture<TrainingData>
{
    [Fact]
    public async Task ShutdownCheckpointsTheRunningJobWhichReloadsAndResumesFromItsStepAfterRestart()
    {
        var jobs = Path.Combine(data.Root, "jobs-shutdown");
        string id;
        using (var first = data.Factory(jobs))
        {
            var client = await TrainingData.AdminClientAsync(first);
            id = await client.StartJobAsync(new
            {
                data = data.Good, steps = 1_000_000, batchSize = 4, learningRate = 1e-3, emaDecay = 0.5, checkpointEvery = 100_000, seed = 5,
            });
            await client.WaitForJobAsync(id, TrainingFrom(minStep: 20));
        } // the host stops (as on SIGTERM): the runner cancels the job, which saves a checkpoint at its current step

        using var second = data.Factory(jobs);
        var again = await TrainingData.AdminClientAsync(second);
        var interrupted = await again.JobAsync(id);
        Assert.Equal("interrupted", interrupted.GetProperty("state").GetString());
        long stoppedAt = interrupted.GetProperty("step").GetInt64();
        var checkpoint = interrupted.GetProperty("latestCheckpoint").GetString()!;
        Assert.True(stoppedAt >= 20, $"stopped at step {stoppedAt}");
        Assert.Equal(stoppedAt, long.Parse(Safetensors.ReadHeader(checkpoint).Metadata["step"]));
        using (var reloaded = DiTCheckpoint.Load(checkpoint))
            Assert.Equal(ApiFactory.TinyConfig.NumClasses, reloaded.Config.NumClasses);

        var firstStep = FirstTrainingStep(second.Services.GetRequiredService<JobStore>(), id);
        Assert.Equal(HttpStatusCode.Accepted, (await again.PostAsync($"/admin/jobs/{id}/resume", null)).StatusCode);
        Assert.Equal(stoppedAt + 1, await firstStep); // from scratch it would be 1

        await again.DeleteAsync($"/admin/jobs/{id}");
        await again.WaitForJobAsync(id, InState("cancelled"));
    }

    /// <summary>The step of the job's first training report from now on (every step is reported, in order).</summary>
    static Task<long> FirstTrainingStep(JobStore store, string id)
    {
        var first = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Seen(TrainingJob job)
        {
            if (job.Id == id && job.State == JobState.Running && job.Phase == "training") first.TrySetResult(job.Step);
        }
        store.Changed += Seen;
        return first.Task.WaitAsync(Hang.Guard).ContinueWith(t => { store.Changed -= Seen; return t; }).Unwrap();
    }
}
