using System.Net;
using DiT.Serving.Engine;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests.Generations;

/// <summary>
/// Generation jobs shared by three replicas through a real Redis: the work spreads, a replica lost mid-job loses nothing
/// and its late results are discarded, a job failing everywhere ends failed. Orderings come from held engines, step
/// gates and the workers' events, never from the clock (the claim timeout only decides when a lost replica's jobs move).
/// </summary>
public sealed class SharedJobsTests
{
    readonly SharedReplicas _replicas = new();

    static object Body(int i) => new { classId = i % 4, n = 1 + i % 3, seed = 1000 + 10 * i, steps = 2 + i % 3 };

    [Fact]
    public async Task SixtyJobsSubmittedThroughOneReplicaAreAllDoneByAllThreeWithTheImagesOfGenerate()
    {
        using var a = _replicas.Replica();
        using var b = _replicas.Replica();
        using var c = _replicas.Replica();
        var client = await a.ReadyClientAsync();
        await b.ReadyClientAsync();
        var cClient = await c.ReadyClientAsync();
        var bWorked = b.Worker().Events("ended", 1);
        var cWorked = c.Worker().Events("ended", 1);
        var allCounted = Workers(a, b, c).Events("ended", 60);

        List<string> ids = [];
        using (a.Probe.Engine.HoldAdmissions()) // A takes its share but cannot finish it until B and C have each done a job
        {
            for (int i = 0; i < 60; i++)
            {
                var response = await client.SubmitAsync(Body(i));
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                ids.Add((await response.JobAsync()).Id);
            }
            await Task.WhenAll(bWorked, cWorked);
        }

        var ended = await Task.WhenAll(ids.Select(id => c.EndedAsync(id)));
        await allCounted;
        Assert.All(ended, job => Assert.Equal(Api.Generations.JobStatus.Succeeded, job.Status));
        Assert.Equal(60, a.Worker().Done + b.Worker().Done + c.Worker().Done); // each job ended once
        Assert.True(b.Worker().Done > 0 && c.Worker().Done > 0);
        for (int i = 0; i < 60; i += 7) await AssertImagesOfGenerateAsync(cClient, ids[i]);
    }

    [Fact]
    public async Task AReplicaLostMidJobLosesNothingAndItsLateResultsAreDiscarded()
    {
        using var a = _replicas.Replica(claimTimeout: "00:00:01");
        using var b = _replicas.Replica(claimTimeout: "00:00:01");
        using var c = _replicas.Replica(claimTimeout: "00:00:01");
        var client = await a.ReadyClientAsync();
        await b.ReadyClientAsync();
        await c.ReadyClientAsync();
        var gate = b.Probe.GateAt(seed: null, step: 1);
        var bStarted = 0;
        b.Worker().Started += _ => Interlocked.Increment(ref bStarted);
        var allCounted = Workers(a, b, c).Events("ended", 12);

        List<string> ids = [];
        using (a.Probe.Engine.HoldAdmissions())
        using (c.Probe.Engine.HoldAdmissions()) // B surely gets work: A and C take their share and sit on it
        {
            for (int i = 0; i < 12; i++) ids.Add((await (await client.SubmitAsync(Body(i))).JobAsync()).Id);
            await gate.Reached; // B is mid-job (its engine stopped at step 1)...
            b.Worker().Abandon(); // ...and now it is gone: no more renewals, no hand-back
        }

        var ended = await Task.WhenAll(ids.Select(id => a.EndedAsync(id)));
        await allCounted;
        Assert.All(ended, job => Assert.Equal(Api.Generations.JobStatus.Succeeded, job.Status));

        var discarded = b.Worker().Events("discarded", Volatile.Read(ref bStarted));
        gate.Release(); // B wakes up and offers what it made: too late, every one of its runs was taken over
        await discarded;
        Assert.Equal(0, b.Worker().Done);
        Assert.Equal(12, a.Worker().Done + c.Worker().Done);
        for (int i = 0; i < 12; i++) await AssertImagesOfGenerateAsync(client, ids[i]);
    }

    [Fact]
    public async Task AJobThatFailsOnEveryReplicaEndsFailedWithItsReasonAfterMaxAttempts()
    {
        ApiFactory Failing() => _replicas.Replica().WithServices(s =>
            s.AddSingleton<IImageGenerator>(sp => new FailingSeedEngine(sp.GetRequiredService<EngineProbe>(), seed: 666)));
        using var a = Failing();
        using var b = Failing();
        using var c = Failing();
        var client = await a.ReadyClientAsync();
        await b.ReadyClientAsync();
        await c.ReadyClientAsync();
        var counted = Workers(a, b, c).Events("ended", 1);

        var job = await (await client.SubmitAsync(new { classId = 1, seed = 666, steps = 2 })).JobAsync();
        var ended = await b.EndedAsync(job.Id);
        await counted;

        Assert.Equal(Api.Generations.JobStatus.Failed, ended.Status);
        Assert.Equal("Generation failed", ended.Error?.Title);
        Assert.Contains("failed 3 time(s)", ended.Error?.Detail);
        Assert.Contains("could not make an image", ended.Error?.Detail);
        Assert.Equal(1, a.Worker().Done + b.Worker().Done + c.Worker().Done);
    }

    [Fact]
    public async Task AStoppingReplicaHandsItsJobBackAtOnceInsteadOfAfterTheClaimTimeout()
    {
        var b = _replicas.Replica(claimTimeout: "00:10:00");
        var bClient = await b.ReadyClientAsync();
        var held = b.Probe.Engine.HoldAdmissions(); // B takes the job, but its engine does not start it
        var started = b.Worker().Events("started", 1);
        var job = await (await bClient.SubmitAsync(new { classId = 2, n = 2, seed = 77, steps = 3 })).JobAsync();
        await started;

        using var a = _replicas.Replica(claimTimeout: "00:10:00");
        var client = await a.ReadyClientAsync();
        await b.DisposeAsync(); // graceful: B hands the job back as it stops
        held.Dispose();
        var ended = await a.EndedAsync(job.Id); // long before the 10 minutes of the claim timeout

        Assert.Equal(Api.Generations.JobStatus.Succeeded, ended.Status);
        await AssertImagesOfGenerateAsync(client, job.Id);
    }

    [Fact]
    public async Task AnyReplicaReadsReplaysAndCancelsAJobSubmittedThroughAnother()
    {
        using var a = _replicas.Replica();
        using var b = _replicas.Replica();
        var aClient = await a.ReadyClientAsync();
        var bClient = await b.ReadyClientAsync();
        var gateA = a.Probe.GateAt(seed: 5, step: 1);
        var gateB = b.Probe.GateAt(seed: 5, step: 1);

        var body = new { classId = 0, seed = 5, steps = 3 };
        var submitted = await (await aClient.SubmitAsync(body, idempotencyKey: "shared-key")).JobAsync();
        var replay = await bClient.SubmitAsync(body, idempotencyKey: "shared-key");
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal(submitted.Id, (await replay.JobAsync()).Id);
        var reused = await bClient.SubmitAsync(body with { seed = 6 }, idempotencyKey: "shared-key");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);

        await Task.WhenAny(gateA.Reached, gateB.Reached); // running on one of them, its engine held at step 1
        var cancelled = b.CreateClient().DeleteAsync($"/generations/{submitted.Id}");
        var events = await aClient.EventsAsync(submitted.Id);
        Assert.Equal("job", (await events.NextAsync()).EventType);
        var answer = await cancelled;
        gateA.Release();
        gateB.Release();

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("cancelled", (await answer.JobAsync()).Status);
        Assert.Equal("end", (await events.UntilEndAsync())[^1].EventType);
        Assert.Equal("cancelled", (await (await bClient.GetAsync($"/generations/{submitted.Id}")).JobAsync()).Status);
    }

    /// <summary>
    /// A commit that Redis applied but whose answer never came (a client timeout) is retried by the worker. The retry
    /// answers "ended now" again, so the job is counted and its end work (webhook) runs, rather than being discarded as
    /// a late result; a run with another attempt still gets nothing.
    /// </summary>
    [Fact]
    public async Task ARetriedCommitOfTheRunThatEndedTheJobAnswersEndedAgainAndOtherRunsAreFencedOut()
    {
        // No claim renewal in between (the first after 200 s): one would find the job no longer running and stop the run.
        using var a = _replicas.Replica(claimTimeout: "00:10:00");
        var client = await a.ReadyClientAsync();
        using var gate = a.Probe.GateAt(seed: null, step: 1);
        var job = await (await client.SubmitAsync(new { classId = 1, seed = 31, steps = 2 })).JobAsync();
        await gate.Reached; // running on A, held at step 1

        var connection = a.Services.GetRequiredService<Api.Generations.Shared.RedisJobConnection>();
        var db = await connection.DatabaseAsync();
        var key = connection.Keys.Job(job.Id);
        long attempt = (long)await db.HashGetAsync(key, "attempt");
        async Task<int> CommitAsync(long run) => (int)await db.ScriptEvaluateAsync(Api.Generations.Shared.RedisJobScripts.Commit,
            [key, connection.Keys.Stream],
            [run, "", "succeeded", "", Api.Generations.Shared.RedisJobState.Time(DateTimeOffset.UtcNow), 3600,
             connection.Keys.Changed.ToString(), job.Id, connection.Keys.Prefix, "2"]);

        Assert.Equal(1, await CommitAsync(attempt));     // applied; say its answer was lost
        Assert.Equal(1, await CommitAsync(attempt));     // the retry
        Assert.Equal(0, await CommitAsync(attempt + 1)); // any other run
        Assert.Equal(0, await CommitAsync(attempt - 1));

        var counted = a.Worker().Events("ended", 1);
        gate.Release(); // A's own commit now comes as a retry of the one above
        await counted;
        Assert.Equal(1, a.Worker().Done);
        Assert.Equal(0, a.Worker().Discarded);
        Assert.Equal(Api.Generations.JobStatus.Succeeded, (await a.EndedAsync(job.Id)).Status);
    }

    [Fact]
    public async Task AFullSharedQueueAnswers503ForTheWholeService()
    {
        using var a = _replicas.Replica().With("Generations:MaxQueuedJobs", "2");
        var client = await a.ReadyClientAsync();
        using var held = a.Probe.Engine.HoldAdmissions(); // nothing ends, so the stream keeps both jobs

        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(Body(1))).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(Body(2))).StatusCode);
        var full = await client.SubmitAsync(Body(3));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, full.StatusCode);
        Assert.Equal("Job queue full", (await full.JsonAsync()).GetProperty("title").GetString());
        Assert.NotNull(full.Headers.RetryAfter);
    }

    [Fact]
    public async Task WithoutRedisSubmittingAnswers503AndGenerateStillWorks()
    {
        using var replica = new ApiFactory().With("Generations:RedisConnectionString", "127.0.0.1:1").With("Generations:RedisTimeoutMs", "200");
        var client = await replica.ReadyClientAsync();

        var submit = await client.SubmitAsync(Body(0));
        var generate = await client.GenerateAsync(new { classId = 0, steps = 2, seed = 1 });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, submit.StatusCode);
        Assert.Equal("Job store unavailable", (await submit.JsonAsync()).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.OK, generate.StatusCode);
    }

    [Fact]
    public async Task AJobRunningWhenRedisGoesDownIsStoredOnceRedisIsBack()
    {
        using var redis = new OwnRedis();
        using var a = new ApiFactory().With("Generations:RedisConnectionString", redis.ConnectionString)
            .With("Generations:RedisKeyPrefix", _replicas.Prefix).With("Generations:ClaimTimeout", "00:10:00")
            .With("Generations:RedisTimeoutMs", "500");
        var client = await a.ReadyClientAsync();
        await ConnectedAsync(a, restart: null);
        using var gate = a.Probe.GateAt(seed: null, step: 1);
        var job = await (await client.SubmitAsync(new { classId = 3, n = 2, seed = 55, steps = 3 })).JobAsync();
        await gate.Reached; // the job runs...
        var storeFailed = a.Worker().Events("store-failed", 1);
        redis.StopSaving(); // ...when Redis goes down
        gate.Release();
        await storeFailed; // the finished job could not be stored: it waits, its images in memory

        var counted = a.Worker().Events("ended", 1);
        await ConnectedAsync(a, restart: redis.Start);
        var ended = await a.EndedAsync(job.Id);
        await counted;

        Assert.Equal(Api.Generations.JobStatus.Succeeded, ended.Status);
        Assert.Equal(1, a.Worker().Done);
        await AssertImagesOfGenerateAsync(client, job.Id);
    }

    /// <summary>Completes once the replica's job connection is up (after <paramref name="restart"/>, when given: Redis
    /// coming back), woken by the multiplexer's own event.</summary>
    static async Task ConnectedAsync(ApiFactory replica, Action? restart)
    {
        var redis = await replica.Services.GetRequiredService<Api.Generations.Shared.RedisJobConnection>().ConnectAsync();
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        redis.ConnectionRestored += (_, _) => { if (redis.IsConnected) up.TrySetResult(); };
        restart?.Invoke();
        if (restart is null && redis.IsConnected) return;
        await up.Task.WaitAsync(Hang.Guard);
    }

    static Api.Generations.Shared.RedisJobWorker[] Workers(params ApiFactory[] replicas) => [.. replicas.Select(r => r.Worker())];

    /// <summary>Every image of the job equals POST /generate with its seed.</summary>
    static async Task AssertImagesOfGenerateAsync(HttpClient client, string id)
    {
        var job = await (await client.GetAsync($"/generations/{id}")).JobAsync();
        Assert.Equal("succeeded", job.Status);
        Assert.Equal(job.Request.N, job.Images.Count);
        foreach (var image in job.Images)
        {
            using var response = await client.GetAsync(image.Url);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            Assert.True(response.IsSuccessStatusCode, $"GET {image.Url}: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
            var alone = await client.GenerateAsync(new { classId = job.Request.ClassId, steps = job.Request.Steps, seed = image.Seed });
            Assert.Equal(await alone.Content.ReadAsByteArrayAsync(), bytes);
        }
    }
}
