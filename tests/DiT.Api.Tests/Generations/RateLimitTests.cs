using System.Net;
using System.Text.Json;

namespace DiT.Api.Tests.Generations;

/// <summary>Per-client rate limits: 429 ProblemDetails with Retry-After, counted per API key or address, per route policy.</summary>
public sealed class RateLimitTests
{
    // An hour-long window: the third request is refused whatever the machine's speed.
    static ApiFactory Limited() => new ApiFactory()
        .With("RateLimits:Enabled", "true")
        .With("RateLimits:Policies:generations:PermitLimit", "2").With("RateLimits:Policies:generations:Window", "01:00:00")
        .With("RateLimits:Policies:generate:PermitLimit", "1").With("RateLimits:Policies:generate:Window", "01:00:00")
        .With("Admin:ApiKey", "admin-key");

    [Fact]
    public async Task AClientOverItsLimitGets429WithRetryAfterAndOtherClientsAreNotAffected()
    {
        using var factory = Limited();
        var client = await factory.ReadyClientAsync();
        var body = new { classId = 0, steps = 1 };
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(body, apiKey: "client-a")).StatusCode);
        var second = await client.SubmitAsync(body, apiKey: "client-a");

        var refused = await client.SubmitAsync(body, apiKey: "client-a");

        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal(429, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains("RateLimits:Policies:generations", problem.RootElement.GetProperty("detail").GetString());

        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(body, apiKey: "client-b")).StatusCode); // its own count
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(body)).StatusCode); // no key: counted by address
        var job = await second.JobAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(job.Links.Self)).StatusCode); // reads have their own policy
    }

    [Fact]
    public async Task GenerateHasItsOwnLimit()
    {
        using var factory = Limited();
        var client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GenerateAsync(new { classId = 0, steps = 1 })).StatusCode);

        var refused = await client.GenerateAsync(new { classId = 0, steps = 1 });

        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(new { classId = 0, steps = 1 })).StatusCode);
    }

    [Fact]
    public async Task AdminRoutesKeepTheirKeyCheckAndAreNotRateLimited()
    {
        using var factory = Limited();
        var client = await factory.ReadyClientAsync();
        for (int i = 0; i < 3; i++) await client.SubmitAsync(new { classId = 0, steps = 1 }, apiKey: "admin-key");

        var withoutKey = await client.GetAsync("/admin/engine");
        var request = new HttpRequestMessage(HttpMethod.Get, "/admin/engine");
        request.Headers.Add("X-Api-Key", "admin-key");
        var withKey = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, withoutKey.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withKey.StatusCode);
    }
}
