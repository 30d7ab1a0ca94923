using DiT.Api.Generations;
using DiT.Api.Generations.Shared;
using DiT.Serving.Engine;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests.Generations;

/// <summary>
/// Replicas of the service in one process sharing their generation jobs through a real Redis (CI exports DIT_TEST_REDIS),
/// each set under its own key prefix, so tests run in parallel on one Redis without crosstalk.
/// </summary>
public sealed class SharedReplicas
{
    public static string TestRedis => Environment.GetEnvironmentVariable("DIT_TEST_REDIS") is { Length: > 0 } redis ? redis
        : throw new InvalidOperationException(
            "DIT_TEST_REDIS is not set: start a Redis (redis-server --port 6390 --save '' --daemonize yes) and export DIT_TEST_REDIS=127.0.0.1:6390.");

    public string Prefix { get; } = "dit:test-jobs:" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A replica on the shared queue: two jobs at a time, a claim that lapses after <paramref name="claimTimeout"/>.
    /// Its Redis calls may take up to a minute (the most the option allows), not the 5 s default: this Redis never goes
    /// down, so a slow call here is a loaded machine, not an outage (outages have tests of their own, with own timeouts).</summary>
    public ApiFactory Replica(string claimTimeout = "00:00:30", int maxAttempts = 3) =>
        new ApiFactory().With("Generations:RedisConnectionString", TestRedis).With("Generations:RedisKeyPrefix", Prefix)
            .With("Generations:MaxRunningJobs", "2").With("Generations:ClaimTimeout", claimTimeout).With("Generations:RedisTimeoutMs", "60000")
            .With("Generations:MaxAttempts", maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

public static class SharedJobs
{
    public static RedisJobWorker Worker(this ApiFactory replica) => replica.Services.GetRequiredService<RedisJobWorker>();

    public static IGenerationJobs Jobs(this ApiFactory replica) => replica.Services.GetRequiredService<IGenerationJobs>();

    /// <summary>The job once it has ended, read through <paramref name="replica"/>, woken by its changes (no polling).</summary>
    public static async Task<JobSnapshot> EndedAsync(this ApiFactory replica, string id)
    {
        var jobs = replica.Jobs();
        var snapshot = await jobs.GetAsync(id, default) ?? throw new InvalidOperationException($"no job {id}");
        using var guard = new CancellationTokenSource(Hang.Guard);
        while (!snapshot.IsEnded) snapshot = await jobs.NextAsync(id, snapshot.Version, guard.Token) ?? throw new InvalidOperationException($"job {id} vanished");
        return snapshot;
    }

    /// <summary>Completes once <paramref name="count"/> events of the worker's <paramref name="kind"/> have been raised (counting from now).</summary>
    public static Task Events(this RedisJobWorker worker, string kind, int count) => new[] { worker }.Events(kind, count);

    /// <summary>Completes once the workers have raised <paramref name="count"/> events of <paramref name="kind"/> between
    /// them (counting from now). Wait for "ended" before reading <see cref="RedisJobWorker.Done"/>: a job reads as ended
    /// in Redis a moment before the worker that ended it has counted it.</summary>
    public static Task Events(this RedisJobWorker[] workers, string kind, int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int seen = 0;
        void On(string _)
        {
            if (Interlocked.Increment(ref seen) >= count) done.TrySetResult();
        }
        foreach (var worker in workers)
            switch (kind)
            {
                case "started": worker.Started += On; break;
                case "ended": worker.Ended += On; break;
                case "discarded": worker.DiscardedResult += On; break;
                case "store-failed": worker.StoreFailed += On; break;
                default: throw new ArgumentOutOfRangeException(nameof(kind));
            }
        return done.Task.WaitAsync(Hang.Guard);
    }
}

/// <summary>An engine that fails every image of one seed (a job that fails wherever it runs), and serves the rest.</summary>
public sealed class FailingSeedEngine(EngineProbe inner, long seed) : IImageGenerator
{
    public bool IsReady => inner.IsReady;
    public ServedModel? Model => inner.Model;
    public EngineStats Stats => inner.Stats;

    public Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<SamplingProgress>? progress, CancellationToken ct) =>
        request.Seed == seed ? Task.FromException<GeneratedImage>(new InvalidOperationException("the test's broken seed"))
            : inner.GenerateAsync(request, progress, ct);
}
