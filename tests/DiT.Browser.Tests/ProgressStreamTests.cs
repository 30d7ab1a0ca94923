using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using DiT.Api.Generate;
using DiT.Api.Tests;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Browser.Tests;

/// <summary>GET /generate/progress/{id} over HTTP (no browser): the events, and that progress never holds up or fails generation.</summary>
public sealed class ProgressStreamTests(ApiFactory app) : IClassFixture<ApiFactory>
{
    static string NewId() => Guid.NewGuid().ToString("N");

    static Task<HttpResponseMessage> GenerateAsync(HttpClient client, string id, int steps)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/generate")
        {
            Content = JsonContent.Create(new { className = "cat", steps, seed = 3 }),
        };
        request.Headers.Add(ProgressStreams.RequestIdHeader, id);
        return client.SendAsync(request);
    }

    /// <summary>Subscribes and returns the open response with its event reader, positioned after the "ready" event.</summary>
    static async Task<(HttpResponseMessage Response, IAsyncEnumerator<SseItem<string>> Events)> SubscribeAsync(HttpClient client, string id)
    {
        var response = await client.GetAsync($"/generate/progress/{id}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync().GetAsyncEnumerator();
        Assert.True(await events.MoveNextAsync());
        Assert.Equal("ready", events.Current.EventType);
        return (response, events);
    }

    [Fact]
    public async Task SubscriberReceivesEveryStepThenDone()
    {
        var client = await app.ReadyClientAsync();
        var id = NewId();
        var (response, events) = await SubscribeAsync(client, id);

        using var generated = await GenerateAsync(client, id, steps: 12);
        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
        var received = new List<SseItem<string>>();
        while (await events.MoveNextAsync()) received.Add(events.Current);

        Assert.Equal("done", received[^1].EventType);
        var steps = received.Where(e => e.EventType == "progress")
            .Select(e => JsonSerializer.Deserialize<GenerateApi.ProgressEvent>(e.Data, JsonSerializerOptions.Web)!).ToList();
        Assert.Equal(Enumerable.Range(1, 12), steps.Select(s => s.Step)); // 12 steps fit the buffer: none dropped
        Assert.All(steps, s => Assert.Equal(12, s.TotalSteps));
        Assert.False(app.Services.GetRequiredService<ProgressStreams>().IsOpen(id)); // closed by the finished stream itself
        await events.DisposeAsync();
        response.Dispose();
    }

    [Fact]
    public async Task SubscriberThatStopsReadingOrLeavesNeverFailsGeneration()
    {
        var client = await app.ReadyClientAsync();
        var stalled = NewId();
        var (stalledResponse, stalledEvents) = await SubscribeAsync(client, stalled); // then never reads again
        var gone = NewId();
        var (goneResponse, goneEvents) = await SubscribeAsync(client, gone);
        await goneEvents.DisposeAsync();
        goneResponse.Dispose();

        using var first = await GenerateAsync(client, stalled, steps: 60); // more steps than the buffer holds
        using var second = await GenerateAsync(client, gone, steps: 5);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await stalledEvents.DisposeAsync();
        stalledResponse.Dispose();
    }

    [Fact]
    public async Task SubscriberWhoseRequestNeverComesGetsExpiredAndTheStreamCloses()
    {
        using var quick = app.WithWebHostBuilder(b => b.ConfigureServices(s =>
            s.AddSingleton(new ProgressStreams { PublisherWait = TimeSpan.FromMilliseconds(200) })));
        var client = quick.CreateClient();
        var id = NewId();
        var (response, events) = await SubscribeAsync(client, id);

        Assert.True(await events.MoveNextAsync());
        Assert.Equal("expired", events.Current.EventType);
        Assert.False(await events.MoveNextAsync());
        Assert.False(quick.Services.GetRequiredService<ProgressStreams>().IsOpen(id));
        await events.DisposeAsync();
        response.Dispose();
    }

    [Fact]
    public async Task GenerateWithAnIdButNoSubscriberLeavesNoStreamBehind()
    {
        var client = await app.ReadyClientAsync();
        var id = NewId();
        using var generated = await GenerateAsync(client, id, steps: 3);
        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
        Assert.False(app.Services.GetRequiredService<ProgressStreams>().IsOpen(id));
    }

    [Fact]
    public async Task SecondSubscriberForAnIdIsAConflictAndABadIdIsAValidationProblem()
    {
        var client = await app.ReadyClientAsync();
        var id = NewId();
        var (response, events) = await SubscribeAsync(client, id);

        using var second = await client.GetAsync($"/generate/progress/{id}");
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        using var bad = await client.GetAsync("/generate/progress/short");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("8-64 characters", problem.GetProperty("errors").GetProperty("id")[0].GetString());

        await events.DisposeAsync();
        response.Dispose();
    }
}
