using System.Net;
using System.Text.Json;
using DiT.Api.Generate;

namespace DiT.Api.Tests;

/// <summary>
/// Finding 6: one client cannot take every progress-stream slot (1,100 streams from one address took all 1,024 and
/// locked real users out for 30 s). Subscriptions are counted per client address and given back when they end.
/// </summary>
public sealed class ProgressStreamLimitTests
{
    static string Id(int i) => $"request-{i:D4}";

    [Fact]
    public void OneClientCannotTakeEverySlot()
    {
        var streams = new ProgressStreams { MaxStreams = 10, MaxStreamsPerClient = 3 };
        for (int i = 0; i < 3; i++) Assert.Equal(SubscribeError.None, streams.Subscribe(Id(i), "10.0.0.1").Error);

        Assert.Equal(SubscribeError.TooManyFromClient, streams.Subscribe(Id(3), "10.0.0.1").Error);
        Assert.Equal(SubscribeError.None, streams.Subscribe(Id(4), "10.0.0.2").Error);
        Assert.False(streams.IsOpen(Id(3)));
    }

    [Fact]
    public void AClosedSubscriptionGivesItsSlotBack()
    {
        var streams = new ProgressStreams { MaxStreamsPerClient = 1 };
        var (stream, _) = streams.Subscribe(Id(0), "10.0.0.1");
        using (streams.Publish(Id(0))) { } // the request finishes first: the subscriber still reads the rest
        Assert.Equal(1, streams.CountOf("10.0.0.1"));

        streams.Close(Id(0), stream!);
        streams.Close(Id(0), stream!); // both sides may close: the slot comes back once

        Assert.Equal(0, streams.CountOf("10.0.0.1"));
        Assert.Equal(SubscribeError.None, streams.Subscribe(Id(1), "10.0.0.1").Error);
    }

    [Fact]
    public void RefusedSubscriptionsHoldNoSlot()
    {
        var streams = new ProgressStreams { MaxStreamsPerClient = 2 };
        Assert.Equal(SubscribeError.None, streams.Subscribe(Id(0), "10.0.0.1").Error);
        Assert.Equal(SubscribeError.AlreadySubscribed, streams.Subscribe(Id(0), "10.0.0.1").Error);
        Assert.Equal(1, streams.CountOf("10.0.0.1"));
    }

    [Fact]
    public async Task OverHttpTheClientOverItsLimitGets429()
    {
        using var factory = new ApiFactory().With("Playground:MaxProgressStreamsPerClient", "2");
        var client = await factory.ReadyClientAsync();
        using var first = await client.GetAsync($"/generate/progress/{Id(0)}", HttpCompletionOption.ResponseHeadersRead);
        using var second = await client.GetAsync($"/generate/progress/{Id(1)}", HttpCompletionOption.ResponseHeadersRead);

        using var third = await client.GetAsync($"/generate/progress/{Id(2)}", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        using var problem = JsonDocument.Parse(await third.Content.ReadAsStringAsync());
        Assert.Contains("This client already has 2", problem.RootElement.GetProperty("detail").GetString());
    }
}
