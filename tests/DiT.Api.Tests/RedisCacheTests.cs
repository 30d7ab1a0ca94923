using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Sockets;

namespace DiT.Api.Tests;

/// <summary>The image cache against a real Redis: CI starts one and exports DIT_TEST_REDIS (see .ci/run).</summary>
public sealed class RedisCacheTests
{
    static string TestRedis => Environment.GetEnvironmentVariable("DIT_TEST_REDIS") is { Length: > 0 } redis ? redis
        : throw new InvalidOperationException(
            "DIT_TEST_REDIS is not set: start a Redis (redis-server --port 6390 --save '' --daemonize yes) and export DIT_TEST_REDIS=127.0.0.1:6390.");

    static ApiFactory WithRedis(string connection) =>
        new ApiFactory().With("Cache:Enabled", "true").With("Cache:RedisConnectionString", connection)
            .With("Cache:RedisTimeoutMs", "2000"); // generous: five helpers share two cores

    [Fact]
    public async Task SecondIdenticalSeededRequestIsACacheHitThatNeverTouchesTheEngine()
    {
        using var factory = WithRedis(TestRedis);
        var client = await factory.ReadyClientAsync();
        var body = new { classId = 3, guidanceScale = 2.5, steps = 2, seed = Random.Shared.NextInt64(1L << 40) }; // fresh key per run

        var first = await client.GenerateAsync(body);
        var generated = factory.Engine.Stats.ImagesGenerated;
        var second = await client.GenerateAsync(body);

        Assert.Equal("miss", first.Header("X-Cache"));
        Assert.Equal("hit", second.Header("X-Cache"));
        Assert.Equal(generated, factory.Engine.Stats.ImagesGenerated);
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await second.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task RequestsWithoutSeedAreNotCached()
    {
        using var factory = WithRedis(TestRedis);
        var client = await factory.ReadyClientAsync();

        var response = await client.GenerateAsync(new { classId = 1, steps = 1 });
        Assert.Equal("off", response.Header("X-Cache"));
    }

    [Fact]
    public async Task GenerationSucceedsWhenRedisStopsMidRun()
    {
        using var redis = OwnRedis.Start();
        using var factory = WithRedis($"127.0.0.1:{redis.Port}");
        var client = await factory.ReadyClientAsync();
        var body = new { classId = 0, steps = 2, seed = 11 };
        Assert.Equal("miss", (await client.GenerateAsync(body)).Header("X-Cache"));
        Assert.Equal("hit", (await client.GenerateAsync(body)).Header("X-Cache"));

        redis.Stop();
        using var redisErrors = new RedisErrorCount(factory);
        var remembered = await client.GenerateAsync(body);
        var during = await client.GenerateAsync(body with { seed = 12 });
        var again = await client.GenerateAsync(body with { seed = 13 });

        Assert.Equal("hit", remembered.Header("X-Cache")); // this replica's memory still has it
        Assert.Equal(HttpStatusCode.OK, during.StatusCode);
        Assert.Equal("miss", during.Header("X-Cache"));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(1, redisErrors.Count); // the dead Redis is asked once, then bypassed for Cache:FailureBackoff
    }

    /// <summary>Failed Redis lookups of one service (its own meter: tests running beside it do not count).</summary>
    sealed class RedisErrorCount : IDisposable
    {
        readonly MeterListener _listener = new();
        int _count;

        public RedisErrorCount(ApiFactory factory)
        {
            var meters = factory.Services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Name == "dit.cache.lookups") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                bool error = false, redis = false;
                foreach (var tag in tags)
                {
                    error |= tag is { Key: "result", Value: "error" };
                    redis |= tag is { Key: "layer", Value: "redis" };
                }
                if (error && redis) Interlocked.Add(ref _count, (int)value);
            });
            _listener.Start();
        }

        public int Count => Volatile.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>A redis-server of the test's own on a free port, killed by <see cref="Stop"/>.</summary>
    sealed class OwnRedis : IDisposable
    {
        readonly Process _process;
        public int Port { get; }

        OwnRedis(Process process, int port) => (_process, Port) = (process, port);

        public static OwnRedis Start()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            var process = Process.Start(new ProcessStartInfo("redis-server", $"--port {port} --save \"\" --appendonly no")
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            }) ?? throw new InvalidOperationException("redis-server did not start (is it installed? apt-get install redis-server).");
            var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, line) =>
            {
                if (line.Data is null) ready.TrySetResult(false); // exited (the port was taken meanwhile, say)
                else if (line.Data.Contains("Ready to accept connections", StringComparison.Ordinal)) ready.TrySetResult(true);
            };
            process.BeginOutputReadLine();
            if (ready.Task.WaitAsync(Hang.Guard).GetAwaiter().GetResult()) return new OwnRedis(process, port);
            process.Kill();
            throw new InvalidOperationException($"redis-server did not listen on port {port}.");
        }

        public void Stop()
        {
            if (_process.HasExited) return;
            _process.Kill();
            _process.WaitForExit();
        }

        public void Dispose()
        {
            Stop();
            _process.Dispose();
        }
    }
}
