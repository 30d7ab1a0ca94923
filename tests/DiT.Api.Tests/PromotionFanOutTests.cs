using System.Net;
using System.Text.Json;
using static DiT.Api.Tests.TrainingHttp;

namespace DiT.Api.Tests;

/// <summary>
/// Scale-out with a shared Redis (CI exports DIT_TEST_REDIS): a trainer replica and serving replicas (Training:Enabled=false)
/// in one process, each its own host. A promotion on the trainer reaches the serving replicas, also one that starts later.
/// </summary>
public sealed class PromotionFanOutTests(TrainingData data) : IClassFixture<TrainingData>
{
    static string TestRedis => Environment.GetEnvironmentVariable("DIT_TEST_REDIS") is { Length: > 0 } redis ? redis
        : throw new InvalidOperationException(
            "DIT_TEST_REDIS is not set: start a Redis (redis-server --port 6390 --save '' --daemonize yes) and export DIT_TEST_REDIS=127.0.0.1:6390.");

    readonly string _channel = "dit:test-promotions:" + Guid.NewGuid().ToString("N")[..8]; // no crosstalk between runs

    /// <summary>A replica on the shared Redis channel and the shared promotions folder (each has its own jobs folder).</summary>
    ApiFactory Replica(ApiFactory factory) =>
        factory.With("Promotions:RedisConnectionString", TestRedis).With("Promotions:Channel", _channel)
            .With("Promotions:Folder", Path.Combine(data.Root, "promoted-" + _channel.Split(':')[^1]));

    ApiFactory ServingReplica() => Replica(data.Factory()).With("Training:Enabled", "false");

    [Fact]
    public async Task PromotionOnTheTrainerChangesTheFixedSeedImageOfEveryServingReplicaIncludingOneStartedLater()
    {
        using var trainer = Replica(data.Factory());
        using var serving = ServingReplica();
        var admin = await TrainingData.AdminClientAsync(trainer);
        var client = await serving.ReadyClientAsync();
        var fixedSeed = new { classId = 2, seed = 21, steps = 3 };
        var before = await (await client.GenerateAsync(fixedSeed)).Content.ReadAsByteArrayAsync();

        var id = await admin.StartJobAsync(new { data = data.Good, steps = 4, batchSize = 4, learningRate = 1e-3, emaDecay = 0.5, seed = 3 });
        await admin.WaitForJobAsync(id, InState("completed"));
        var promote = await admin.PostAsync($"/admin/jobs/{id}/promote", null);
        Assert.True(promote.StatusCode == HttpStatusCode.OK, await promote.Content.ReadAsStringAsync());
        var fingerprint = (await promote.JsonAsync()).GetProperty("fingerprint").GetString()!;

        await serving.WhenServingAsync(fingerprint);
        var after = await client.GenerateAsync(fixedSeed);
        Assert.Equal(fingerprint, after.Header("X-Model-Fingerprint"));
        Assert.NotEqual(before, await after.Content.ReadAsByteArrayAsync());
        var onTrainer = await admin.GenerateAsync(fixedSeed);
        Assert.Equal(await onTrainer.Content.ReadAsByteArrayAsync(), await after.Content.ReadAsByteArrayAsync()); // same weights everywhere

        using var late = ServingReplica(); // scaled out after the promotion: ready only once it serves the promotion
        var lateClient = await late.ReadyClientAsync();
        Assert.Equal(fingerprint, late.Engine.Model?.Fingerprint);
        Assert.Equal(await after.Content.ReadAsByteArrayAsync(), await (await lateClient.GenerateAsync(fixedSeed)).Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task AServingReplicaRunsNoJobsAndSaysWhereFineTuningRuns()
    {
        var jobs = Path.Combine(data.Root, "jobs-serving-only");
        using var serving = ServingReplica().With("Training:JobsFolder", jobs);
        var admin = await TrainingData.AdminClientAsync(serving);

        var finetune = await admin.PostAsync("/admin/finetune", JsonContent(new { data = data.Good, steps = 2 }));
        var list = await admin.GetAsync("/admin/jobs");

        Assert.Equal(HttpStatusCode.NotFound, finetune.StatusCode);
        Assert.Equal("Fine-tuning is off on this replica", (await finetune.JsonAsync()).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.NotFound, list.StatusCode);
        Assert.False(Directory.Exists(jobs), "a serving replica must not touch the shared jobs folder");
    }

    [Fact]
    public async Task AReplicaWhosePromotionRedisIsDownStillBecomesReadyAndServes()
    {
        using var replica = data.Factory().With("Training:Enabled", "false")
            .With("Promotions:RedisConnectionString", "127.0.0.1:1").With("Promotions:Channel", _channel); // nothing listens there
        var client = await replica.ReadyClientAsync();

        Assert.Equal(HttpStatusCode.OK, (await client.GenerateAsync(new { classId = 0, steps = 2, seed = 1 })).StatusCode);
    }

    static StringContent JsonContent(object body) =>
        new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}
