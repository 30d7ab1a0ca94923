using System.Net;
using System.Text.Json;
using DiT.Api.Generations;
using DiT.Api.Webhooks;

namespace DiT.Api.Tests.Generations;

/// <summary>End-of-job webhooks to the test's own receiver on loopback (allowed by configuration here), signed and retried.</summary>
public sealed class WebhookTests
{
    static ApiFactory WithWebhooks(string allowedHost = "127.0.0.1", bool allowPrivate = true, int maxAttempts = 3) => new ApiFactory()
        .With("Webhooks:Secret", WebhookReceiver.Secret)
        .With("Webhooks:AllowedHosts:0", allowedHost)
        .With("Webhooks:AllowPrivateNetworks", allowPrivate ? "true" : "false")
        .With("Webhooks:MaxAttempts", maxAttempts.ToString())
        .With("Webhooks:InitialDelay", "00:00:00") // the backoff is counted in attempts here, not timed
        .With("Webhooks:MaxDelay", "00:00:00");

    [Fact]
    public async Task TheEndOfAJobIsPostedSignedToTheWebhook()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var factory = WithWebhooks();
        var client = await factory.ReadyClientAsync();

        var job = await (await client.SubmitAsync(new { classId = 2, steps = 2, seed = 7, n = 2, webhook = receiver.Url.ToString() })).JobAsync();
        var attempt = await receiver.Attempts.ReadAsync().AsTask().WaitAsync(Hang.Guard);

        Assert.True(WebhookReceiver.SignatureIsValid(attempt), "the signature must verify with the shared secret");
        Assert.Equal($"msg_{job.Id}", attempt.Id);
        Assert.True(long.TryParse(attempt.Timestamp, out _));
        using var payload = JsonDocument.Parse(attempt.Body);
        Assert.Equal("generation.succeeded", payload.RootElement.GetProperty("type").GetString());
        var data = payload.RootElement.GetProperty("data").Deserialize<GenerationView>(JsonSerializerOptions.Web)!;
        Assert.Equal((job.Id, "succeeded", 2), (data.Id, data.Status, data.Images.Count));
        Assert.False(WebhookReceiver.SignatureIsValid(attempt with { Body = attempt.Body.Replace("succeeded", "failed") }));

        var delivered = await factory.Job(job.Id).UntilAsync(j => j.Webhook is { IsFinal: true });
        Assert.Equal(new WebhookState(WebhookState.Delivered, 1, 200, null), delivered.Webhook);
        var shown = await (await client.GetAsync(job.Links.Self)).JobAsync();
        Assert.Equal(new GenerationWebhookView(receiver.Url.ToString(), "delivered", 1, 200, null), shown.Webhook);
    }

    [Fact]
    public async Task AFailingWebhookIsRetriedWithTheSameIdUntilItIsAccepted()
    {
        await using var receiver = await WebhookReceiver.StartAsync(500, 503);
        using var factory = WithWebhooks(maxAttempts: 3);
        var client = await factory.ReadyClientAsync();

        var job = await (await client.SubmitAsync(new { classId = 0, steps = 1, webhook = receiver.Url.ToString() })).JobAsync();
        var delivered = await factory.Job(job.Id).UntilAsync(j => j.Webhook is { IsFinal: true });

        Assert.Equal(new WebhookState(WebhookState.Delivered, 3, 200, null), delivered.Webhook);
        var attempts = Enumerable.Range(0, 3).Select(_ => receiver.Attempts.TryRead(out var a) ? a : null).ToArray();
        Assert.Equal([500, 503, 200], attempts.Select(a => a!.AnsweredWith));
        Assert.All(attempts, a => Assert.Equal($"msg_{job.Id}", a!.Id));
        Assert.All(attempts, a => Assert.True(WebhookReceiver.SignatureIsValid(a!)));
        Assert.Equal(3, receiver.Count);
    }

    [Fact]
    public async Task AWebhookThatKeepsFailingIsGivenUpAfterMaxAttempts()
    {
        await using var receiver = await WebhookReceiver.StartAsync(500, 500, 500, 500, 500);
        using var factory = WithWebhooks(maxAttempts: 3);
        var client = await factory.ReadyClientAsync();

        var job = await (await client.SubmitAsync(new { classId = 0, steps = 1, webhook = receiver.Url.ToString() })).JobAsync();
        var failed = await factory.Job(job.Id).UntilAsync(j => j.Webhook is { IsFinal: true });

        Assert.Equal(new WebhookState(WebhookState.Failed, 3, 500, "HTTP 500"), failed.Webhook);
        Assert.Equal(3, receiver.Count); // given up: no fourth attempt is ever scheduled
        Assert.Equal("succeeded", failed.Status.ToString().ToLowerInvariant()); // the job itself is unaffected
    }

    [Fact]
    public async Task ANameThatResolvesToLoopbackIsRefusedAtConnectWhenPrivateNetworksAreNotAllowed()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var factory = WithWebhooks(allowedHost: "localhost", allowPrivate: false);
        var client = await factory.ReadyClientAsync();
        var url = $"http://localhost:{receiver.Url.Port}/hook";

        var job = await (await client.SubmitAsync(new { classId = 0, steps = 1, webhook = url })).JobAsync();
        var refused = await factory.Job(job.Id).UntilAsync(j => j.Webhook is { IsFinal: true });

        Assert.Equal((WebhookState.Failed, 1), (refused.Webhook!.Status, refused.Webhook.Attempts));
        Assert.StartsWith("refused:", refused.Webhook.LastError);
        Assert.Equal(0, receiver.Count);
    }

    [Theory]
    [InlineData("http://127.0.0.1:9/hook", "127.0.0.1", "non-public address")]
    [InlineData("http://[::1]:9/hook", "::1", "non-public address")]
    [InlineData("http://10.1.2.3/hook", "10.1.2.3", "non-public address")]
    [InlineData("http://169.254.169.254/latest/meta-data", "169.254.169.254", "non-public address")]
    [InlineData("https://evil.example.org/hook", "hooks.example.com", "not allowed")]
    [InlineData("ftp://hooks.example.com/hook", "hooks.example.com", "absolute http or https URL")]
    [InlineData("/relative/hook", "*", "absolute http or https URL")]
    [InlineData("https://user:pass@hooks.example.com/hook", "hooks.example.com", "credentials")]
    public async Task AWebhookTargetOutsideThePolicyIsRefusedAtSubmit(string url, string allowedHost, string message)
    {
        using var factory = WithWebhooks(allowedHost: allowedHost, allowPrivate: false);
        var client = await factory.ReadyClientAsync();
        var response = await client.SubmitAsync(new { classId = 0, webhook = url });
        await Problems.AssertValidationProblem(response, "webhook", message);
    }

    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("2001:4860:4860::8888", true)]
    [InlineData("127.0.0.2", false)]
    [InlineData("172.20.0.1", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("::", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("64:ff9b::a00:1", false)]
    public void OnlyPublicAddressesArePublic(string address, bool isPublic) =>
        Assert.Equal(isPublic, WebhookTargets.IsPublic(IPAddress.Parse(address)));
}
