using System.Net;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests;

/// <summary>
/// Finding 9: a cache call never costs a request more than Cache:RedisTimeoutMs. StackExchange.Redis checks its own
/// timeouts on a 1 s heartbeat, so after an outage the probing request paid about twice the timeout; the cache now
/// keeps its own deadline. Shown with a backend that never answers at all: the request still gets its image.
/// </summary>
public sealed class CacheDeadlineTests
{
    /// <summary>A distributed cache that takes every call and never answers.</summary>
    sealed class SilentCache : IDistributedCache
    {
        int _calls;
        public int Calls => Volatile.Read(ref _calls);

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
        {
            Interlocked.Increment(ref _calls);
            return new TaskCompletionSource<byte[]?>().Task;
        }

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
        {
            Interlocked.Increment(ref _calls);
            return new TaskCompletionSource().Task;
        }

        public byte[]? Get(string key) => throw new NotSupportedException();
        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw new NotSupportedException();
        public void Refresh(string key) => throw new NotSupportedException();
        public Task RefreshAsync(string key, CancellationToken token = default) => throw new NotSupportedException();
        public void Remove(string key) => throw new NotSupportedException();
        public Task RemoveAsync(string key, CancellationToken token = default) => throw new NotSupportedException();
    }

    [Fact]
    public async Task ACacheThatNeverAnswersCostsOneDeadlineAndIsThenBypassed()
    {
        var silent = new SilentCache();
        using var factory = new ApiFactory()
            .With("Cache:Enabled", "true").With("Cache:RedisConnectionString", "127.0.0.1:1") // the shared store: replaced below
            .With("Cache:RedisTimeoutMs", "100").With("Cache:FailureBackoff", "01:00:00")
            .WithServices(services => services.AddSingleton<IDistributedCache>(silent));
        var client = await factory.ReadyClientAsync();

        var first = await client.GenerateAsync(new { classId = 0, steps = 1, seed = 5 }).WaitAsync(Hang.Guard); // it hung before
        var second = await client.GenerateAsync(new { classId = 0, steps = 1, seed = 5 });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("miss", first.Header("X-Cache"));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("hit", second.Header("X-Cache")); // from this replica's memory
        Assert.Equal(1, silent.Calls); // the lookup timed out; the write skipped the failed shared store
    }
}
