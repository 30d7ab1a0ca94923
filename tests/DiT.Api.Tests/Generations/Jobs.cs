using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using DiT.Api.Generations;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests.Generations;

/// <summary>Calling /generations in tests: submit, read jobs, follow the event stream, and wait for a job's state in-process.</summary>
public static class Jobs
{
    public static Task<HttpResponseMessage> SubmitAsync(this HttpClient client, object body, string? prefer = null, string? idempotencyKey = null,
        string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/generations") { Content = JsonContent.Create(body) };
        if (prefer is not null) request.Headers.Add("Prefer", prefer);
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (apiKey is not null) request.Headers.Add("X-Api-Key", apiKey);
        return client.SendAsync(request);
    }

    public static async Task<GenerationView> JobAsync(this HttpResponseMessage response) =>
        JsonSerializer.Deserialize<GenerationView>(await response.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!;

    public static T Data<T>(this SseItem<string> item) => JsonSerializer.Deserialize<T>(item.Data, JsonSerializerOptions.Web)!;

    /// <summary>Opens GET /generations/{id}/events; the caller reads events as they come.</summary>
    public static async Task<IAsyncEnumerator<SseItem<string>>> EventsAsync(this HttpClient client, string id)
    {
        var response = await client.GetAsync($"/generations/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync().GetAsyncEnumerator();
    }

    public static async Task<SseItem<string>> NextAsync(this IAsyncEnumerator<SseItem<string>> events)
    {
        Assert.True(await events.MoveNextAsync(), "the event stream ended early");
        return events.Current;
    }

    /// <summary>Reads events up to and including "end".</summary>
    public static async Task<List<SseItem<string>>> UntilEndAsync(this IAsyncEnumerator<SseItem<string>> events)
    {
        var received = new List<SseItem<string>>();
        do received.Add(await events.NextAsync());
        while (received[^1].EventType != "end");
        Assert.False(await events.MoveNextAsync(), "the stream should close after 'end'");
        return received;
    }

    public static GenerationJob Job(this ApiFactory factory, string id) =>
        factory.Services.GetRequiredService<GenerationJobStore>().Get(id) ?? throw new InvalidOperationException($"no job {id}");

    /// <summary>Waits, woken by the job's own change signal (no polling), until the job satisfies <paramref name="condition"/>.</summary>
    public static async Task<JobSnapshot> UntilAsync(this GenerationJob job, Func<JobSnapshot, bool> condition)
    {
        while (true)
        {
            var snapshot = job.Snapshot();
            if (condition(snapshot)) return snapshot;
            await job.ChangedSince(snapshot.Version).WaitAsync(Hang.Guard);
        }
    }
}
