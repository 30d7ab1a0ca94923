using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DiT.Api.Tests;

/// <summary>
/// Finding 1: malformed transport over a raw socket against a real Kestrel. Every JSON route answers a bad chunk, a body
/// shorter than its Content-Length, a stalled body and an oversized one with a 4xx ProblemDetails, never a 500, and logs
/// nothing above a warning and no stack trace.
/// </summary>
public sealed class TransportTests(TransportTests.Server server) : IClassFixture<TransportTests.Server>
{
    const string Key = "transport-key";

    /// <summary>The tiny service on Kestrel, with a minimum body rate no stalled body can meet once the (shortest allowed)
    /// grace period is over: the 408 comes from the server's own rule, not from the test's timing.</summary>
    public sealed class Server : IAsyncLifetime
    {
        public Server() => Factory = new ApiFactory()
            .With("Admin:ApiKey", Key)
            .With("Server:MinRequestBodyBytesPerSecond", "1000000")
            .With("Server:MinRequestBodyGracePeriod", "00:00:01.100")
            .WithServices(services => services.AddSingleton<IStartupFilter>(Answered).AddTransient<IStartupFilter, UnguardedBodyReader>());

        public ApiFactory Factory { get; }
        public AnsweredStatuses Answered { get; } = new();

        public Uri Address { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Address = Factory.StartOnLoopback();
            await Factory.ReadyClientAsync();
        }

        public Task DisposeAsync() => Factory.DisposeAsync().AsTask();
    }

    public static TheoryData<string> JsonRoutes => ["/generate", "/admin/finetune"];

    static string Post(string route, string headers) => $"POST {route} HTTP/1.1\r\nContent-Type: application/json\r\nX-Api-Key: {Key}\r\n{headers}";

    public static TheoryData<string, string> BadChunkSizes => new()
    {
        { "/generate", "zz" }, { "/admin/finetune", "zz" },
        // too large for an int: Kestrel throws a plain IOException here, not BadHttpRequestException (found by dit fuzz)
        { "/generate", "ffffffffffffffffff" }, { "/admin/finetune", "ffffffffffffffffff" },
    };

    [Theory]
    [MemberData(nameof(BadChunkSizes))]
    public async Task ABadChunkSizeIsA400(string route, string size)
    {
        var response = await RawHttp.SendAsync(server.Address, Post(route, "Transfer-Encoding: chunked"), $"{size}\r\n{{}}\r\n0\r\n\r\n");
        AssertBodyProblem(response, HttpStatusCode.BadRequest);
    }

    /// <summary>Not a 500 before either (Kestrel sees the client go and cancels the request), but it must stay quiet.</summary>
    [Theory]
    [MemberData(nameof(JsonRoutes))]
    public async Task AClientThatHangsUpMidBodyGetsA4xxAndLogsNoError(string route)
    {
        var tag = Guid.NewGuid().ToString("N");
        await RawHttp.SendAndHangUpAsync(server.Address, Post($"{route}?tag={tag}", "Content-Length: 100"), """{"classId":""");

        var status = await server.Answered.Of(tag); // the client is gone: what the service made of it
        Assert.InRange(status, 400, 499);
        AssertNothingLoggedAboveAWarning();
    }

    /// <summary>The "Content-Length: 100 followed by 11 bytes": the rest never comes, Kestrel's minimum rate
    /// cuts the body off, and the reader answers 408 (it was a 500 and a 20-line error log).</summary>
    [Theory]
    [MemberData(nameof(JsonRoutes))]
    public async Task ABodyShorterThanItsContentLengthIsA408(string route)
    {
        var response = await RawHttp.SendAsync(server.Address, Post(route, "Content-Length: 100"), """{"classId":""");
        AssertBodyProblem(response, HttpStatusCode.RequestTimeout);
    }

    [Theory]
    [MemberData(nameof(JsonRoutes))]
    public async Task AnOversizedBodyIsA413(string route)
    {
        var response = await RawHttp.SendAsync(server.Address, Post(route, "Transfer-Encoding: chunked"), $"5000\r\n{new string(' ', 0x5000)}\r\n0\r\n\r\n");
        AssertBodyProblem(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Theory]
    [InlineData("zz")]
    [InlineData("ffffffffffffffffff")]
    public async Task ABodyReadOutsideTheJsonReaderIsStillA4xx(string size)
    {
        var response = await RawHttp.SendAsync(server.Address, Post(UnguardedBodyReader.Path, "Transfer-Encoding: chunked"), $"{size}\r\n{{}}\r\n0\r\n\r\n");
        Assert.Equal(400, response.Status);
        Assert.StartsWith("application/problem+json", response.Headers["Content-Type"]);
        AssertNothingLoggedAboveAWarning();
    }

    [Fact]
    public async Task TheServiceStillAnswersAfterMalformedRequests()
    {
        await RawHttp.SendAsync(server.Address, Post("/generate", "Transfer-Encoding: chunked"), "zz\r\n");
        var client = await server.Factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GenerateAsync(new { classId = 1, steps = 1, seed = 1 })).StatusCode);
    }

    void AssertBodyProblem(RawHttp.Response response, HttpStatusCode status)
    {
        Assert.True((int)status == response.Status, $"{response.Status}: {response.Body}");
        Assert.StartsWith("application/problem+json", response.Headers["Content-Type"]);
        using var problem = JsonDocument.Parse(response.Body);
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty("body", out _), response.Body);
        Assert.DoesNotContain("Exception", response.Body);
        AssertNothingLoggedAboveAWarning();
    }

    void AssertNothingLoggedAboveAWarning()
    {
        var bad = server.Factory.Logs.Entries.Where(e => e.Level > LogLevel.Warning || e.Exception is not null).ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad.Select(e => $"{e.Level} {e.Category}: {e.Message} {e.Exception?.GetType().Name}")));
    }
}

/// <summary>A test-only route, after every endpoint, that reads the body with no guard: shows the global safety net.</summary>
sealed class UnguardedBodyReader : IStartupFilter
{
    public const string Path = "/test/unguarded-body";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        app.Map(Path, branch => branch.Run(async context =>
        {
            await new StreamReader(context.Request.Body).ReadToEndAsync();
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        }));
    };
}
