using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DiT.Api.Tests.Generations;

/// <summary>
/// The test's own webhook receiver: Kestrel on 127.0.0.1 (a free port), answering POST /hook with the scripted status
/// codes in order (then 200), recording every attempt, and verifying Standard Webhooks signatures with its own HMAC.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    /// <summary>A fixed test secret: "whsec_" + base64 of 32 bytes.</summary>
    public static readonly string Secret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    public sealed record Attempt(string Id, string Timestamp, string Signature, string Body, int AnsweredWith);

    readonly WebApplication _app;
    readonly Queue<int> _script;
    readonly Channel<Attempt> _attempts = Channel.CreateUnbounded<Attempt>();

    WebhookReceiver(WebApplication app, IEnumerable<int> script) => (_app, _script) = (app, new Queue<int>(script));

    public Uri Url { get; private set; } = null!;

    public ChannelReader<Attempt> Attempts => _attempts.Reader;

    public int Count { get; private set; }

    public static async Task<WebhookReceiver> StartAsync(params int[] answers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var receiver = new WebhookReceiver(builder.Build(), answers);
        receiver._app.MapPost("/hook", receiver.ReceiveAsync);
        await receiver._app.StartAsync();
        var address = receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(new Uri(address), "/hook");
        return receiver;
    }

    async Task<IResult> ReceiveAsync(HttpRequest request)
    {
        var body = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync();
        int status;
        lock (_script)
        {
            status = _script.Count > 0 ? _script.Dequeue() : 200;
            Count++;
        }
        await _attempts.Writer.WriteAsync(new Attempt(request.Headers["webhook-id"].ToString(), request.Headers["webhook-timestamp"].ToString(),
            request.Headers["webhook-signature"].ToString(), body, status));
        return Results.StatusCode(status);
    }

    /// <summary>Standard Webhooks verification, written here from the spec rather than taken from the service:
    /// base64 HMAC-SHA256 of "id.timestamp.body" keyed with the secret's base64 part, compared in constant time.</summary>
    public static bool SignatureIsValid(Attempt attempt)
    {
        var key = Convert.FromBase64String(Secret["whsec_".Length..]);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{attempt.Id}.{attempt.Timestamp}.{attempt.Body}")));
        return attempt.Signature.Split(' ').Any(s => s.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s[3..]), Encoding.ASCII.GetBytes(expected)));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
