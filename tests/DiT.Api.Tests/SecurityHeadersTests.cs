using System.Net;
using System.Text.Json;

namespace DiT.Api.Tests;

/// <summary>
/// Finding 7: every response (pages, API, errors) carries the configured security headers and no Server header (on
/// a real Kestrel, which is what adds it); Swagger can be switched off; /model and /classes show file names, not
/// where the files lie on the server.
/// </summary>
public sealed class SecurityHeadersTests
{
    [Theory]
    [InlineData("GET", "/")]
    [InlineData("GET", "/playground.js")]
    [InlineData("GET", "/swagger/index.html")]
    [InlineData("GET", "/model")]
    [InlineData("GET", "/no-such-page")]
    [InlineData("POST", "/generate")]
    public async Task EveryResponseHasTheSecurityHeadersAndNoServerHeader(string method, string path)
    {
        using var factory = new ApiFactory();
        var address = factory.StartOnLoopback();
        await factory.ReadyClientAsync();
        using var client = new HttpClient { BaseAddress = address };

        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? new StringContent("{") : null });

        Assert.False(response.Headers.Contains("Server"), $"Server: {response.Header("Server")}");
        Assert.Contains("frame-ancestors 'none'", response.Header("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", response.Header("Content-Security-Policy"));
        Assert.Equal("DENY", response.Header("X-Frame-Options"));
        Assert.Equal("nosniff", response.Header("X-Content-Type-Options"));
    }

    [Fact]
    public async Task AHeaderConfiguredEmptyIsNotSent()
    {
        using var factory = new ApiFactory().With("Security:ContentSecurityPolicy", "").With("Security:FrameOptions", "SAMEORIGIN");
        var client = factory.CreateClient();

        var response = await client.GetAsync("/");

        Assert.False(response.Headers.Contains("Content-Security-Policy"));
        Assert.Equal("SAMEORIGIN", response.Header("X-Frame-Options"));
    }

    [Fact]
    public async Task SwaggerIsOnByDefaultAndCanBeSwitchedOff()
    {
        using var on = new ApiFactory();
        using var off = new ApiFactory().With("Swagger:Enabled", "false");

        Assert.Equal(HttpStatusCode.OK, (await on.CreateClient().GetAsync("/swagger/v1/swagger.json")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await off.CreateClient().GetAsync("/swagger/v1/swagger.json")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await off.CreateClient().GetAsync("/swagger/index.html")).StatusCode);
    }

    [Fact]
    public async Task ModelAndClassesNameFilesWithoutServerPaths()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();

        using var model = JsonDocument.Parse(await client.GetStringAsync("/model"));
        using var classes = JsonDocument.Parse(await client.GetStringAsync("/classes"));

        Assert.Equal("tiny.safetensors", model.RootElement.GetProperty("source").GetString());
        Assert.Equal("classes.txt", model.RootElement.GetProperty("classNames").GetString());
        Assert.Equal("classes.txt", classes.RootElement.GetProperty("source").GetString());
        Assert.DoesNotContain(Path.GetTempPath().TrimEnd('/'), model.RootElement.GetRawText());
    }
}
