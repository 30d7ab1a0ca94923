using System.Net;
using System.Text.Json;

namespace DiT.Api.Tests;

public sealed class AdminTests
{
    [Fact]
    public async Task AdminWithoutConfiguredKeyIsNotFound()
    {
        using var factory = new ApiFactory();
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", "anything");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/admin/engine")).StatusCode);
    }

    /// <summary>Finding 7: without a key /admin does not exist for any method (routing answered 405 to a PUT on a GET endpoint).</summary>
    [Theory]
    [InlineData("PUT", "/admin/engine")]
    [InlineData("HEAD", "/admin/engine")]
    [InlineData("OPTIONS", "/admin/engine")]
    [InlineData("DELETE", "/admin/engine")]
    [InlineData("POST", "/admin/finetune")]
    [InlineData("PATCH", "/admin/jobs/x")]
    [InlineData("GET", "/admin")]
    public async Task AdminWithoutConfiguredKeyIsNotFoundForAnyMethod(string method, string path)
    {
        using var factory = new ApiFactory();
        var response = await factory.CreateClient().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    [InlineData("s3cret-but-longer")]
    public async Task AdminWithMissingOrWrongKeyIsUnauthorized(string? key)
    {
        using var factory = new ApiFactory().With("Admin:ApiKey", "s3cret");
        var client = factory.CreateClient();
        if (key is not null) client.DefaultRequestHeaders.Add("X-Api-Key", key);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/admin/engine")).StatusCode);
    }

    [Fact]
    public async Task AdminWithTheKeyShowsEngineStats()
    {
        using var factory = new ApiFactory().With("Admin:ApiKey", "s3cret").With("Engine:QueueCapacity", "5");
        var client = await factory.ReadyClientAsync();
        client.DefaultRequestHeaders.Add("X-Api-Key", "s3cret");

        var response = await client.GetAsync("/admin/engine");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(5, json.RootElement.GetProperty("queueCapacity").GetInt32());
    }
}
