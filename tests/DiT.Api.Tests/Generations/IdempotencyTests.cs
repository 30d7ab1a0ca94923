using System.Net;
using DiT.Api.Generations;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests.Generations;

/// <summary>Idempotency-Key on POST /generations: a retried submit returns the original job; another body is refused.</summary>
public sealed class IdempotencyTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    static string NewKey() => Guid.NewGuid().ToString();

    int Jobs => factory.Services.GetRequiredService<GenerationJobStore>().Count;

    [Fact]
    public async Task ARetryWithTheSameKeyAndBodyReturnsTheOriginalJob()
    {
        var client = await factory.ReadyClientAsync();
        var key = NewKey();
        var body = new { className = "dog", steps = 2, n = 2 }; // no seed: the retry must not draw a new one
        var first = await client.SubmitAsync(body, idempotencyKey: key);
        var jobsAfterFirst = Jobs;

        var retry = await client.SubmitAsync(body, idempotencyKey: key);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal("true", retry.Header("Idempotent-Replayed"));
        var (original, replayed) = (await first.JobAsync(), await retry.JobAsync());
        Assert.Equal(original.Id, replayed.Id);
        Assert.Equal(original.Request.Seed, replayed.Request.Seed);
        Assert.Equal(replayed.Links.Self, retry.Headers.Location?.OriginalString);
        Assert.Equal(jobsAfterFirst, Jobs);
    }

    [Fact]
    public async Task TheSameFieldsInAnotherOrderAndSpacingAreTheSameBody()
    {
        var client = await factory.ReadyClientAsync();
        var key = NewKey();
        var first = await SubmitRawAsync(client, """{"classId": 2, "steps": 1, "seed": 4}""", key);

        var retry = await SubmitRawAsync(client, """{ "seed":4,"steps":1, "classId":2 }""", key);

        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal((await first.JobAsync()).Id, (await retry.JobAsync()).Id);
    }

    static Task<HttpResponseMessage> SubmitRawAsync(HttpClient client, string json, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/generations") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        return client.SendAsync(request);
    }

    [Fact]
    public async Task ConcurrentSubmitsWithOneKeyMakeOneJob()
    {
        var client = await factory.ReadyClientAsync();
        var key = NewKey();
        var body = new { classId = 0, steps = 1, seed = 8 };

        var responses = await Task.WhenAll(client.SubmitAsync(body, idempotencyKey: key), client.SubmitAsync(body, idempotencyKey: key));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Accepted], responses.Select(r => r.StatusCode).Order());
        Assert.Single((await Task.WhenAll(responses.Select(r => r.JobAsync()))).Select(j => j.Id).Distinct());
    }

    [Fact]
    public async Task TheSameKeyWithAnotherBodyIsRefusedWith422()
    {
        var client = await factory.ReadyClientAsync();
        var key = NewKey();
        var original = await (await client.SubmitAsync(new { classId = 0, steps = 1, seed = 1 }, idempotencyKey: key)).JobAsync();

        var response = await client.SubmitAsync(new { classId = 0, steps = 1, seed = 2 }, idempotencyKey: key);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(original.Id, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("with space")]
    [InlineData("k256")]
    public async Task AKeyThatIsNotUpTo255VisibleCharactersIsRefusedNamingTheHeader(string key)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.SubmitAsync(new { classId = 0 }, idempotencyKey: key == "k256" ? new string('k', 256) : key);
        await Problems.AssertValidationProblem(response, "Idempotency-Key", "1-255 visible ASCII");
    }
}
