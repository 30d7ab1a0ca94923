using System.Net;
using DiT.Api.Generations;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests.Generations;

/// <summary>The job store's bounds (503 when full) and retention (deleted after Generations:Retention, on a test clock).</summary>
public sealed class JobStoreTests
{
    sealed class ClockedFactory(ManualTime time) : ApiFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(time));
        }
    }

    [Fact]
    public async Task AFullStoreAnswers503WithRetryAfter()
    {
        using var factory = new ApiFactory().With("Generations:MaxJobs", "1");
        var client = await factory.ReadyClientAsync();
        var kept = await (await client.SubmitAsync(new { classId = 0, steps = 1 })).JobAsync();
        await factory.Job(kept.Id).Ended; // ended, but kept for the retention time

        var response = await client.SubmitAsync(new { classId = 0, steps = 1 });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }

    [Fact]
    public async Task ImageBytesAreReservedAtSubmitSoTheByteBoundHoldsBeforeImagesExist()
    {
        // Each 8x8 RGB image reserves 2*8*8*3 + 8192 = 8576 bytes: two fit in 20,000, three do not.
        using var factory = new ApiFactory().With("Generations:MaxStoredBytes", "20000");
        var client = await factory.ReadyClientAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.SubmitAsync(new { classId = 0, steps = 1, n = 3 })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(new { classId = 0, steps = 1, n = 2 })).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.SubmitAsync(new { classId = 0, steps = 1, n = 1 })).StatusCode);
    }

    [Fact]
    public async Task AJobAndItsImagesAndItsKeyAreDeletedWhenTheRetentionHasPassed()
    {
        var time = new ManualTime();
        using var factory = new ClockedFactory(time).With("Generations:Retention", "00:01:00").With("Generations:MaxJobs", "1");
        var client = await factory.ReadyClientAsync();
        var job = await (await client.SubmitAsync(new { classId = 0, steps = 1, seed = 1 }, idempotencyKey: "key-1")).JobAsync();
        var ended = await factory.Job(job.Id).UntilAsync(j => j.IsEnded);
        Assert.Equal(ended.FinishedAt + TimeSpan.FromMinutes(1), ended.ExpiresAt);

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(job.Links.Self)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{job.Links.Self}/images/0")).StatusCode);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(job.Links.Self)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"{job.Links.Self}/images/0")).StatusCode);
        // The store has room again (MaxJobs 1), and the key is free: another body is a new job, not a 422.
        var next = await client.SubmitAsync(new { classId = 0, steps = 1, seed = 2 }, idempotencyKey: "key-1");
        Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        Assert.NotEqual(job.Id, (await next.JobAsync()).Id);
        Assert.Equal(1, factory.Services.GetRequiredService<GenerationJobStore>().Count);
    }
}
