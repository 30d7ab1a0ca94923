using System.Net.Http.Json;
using System.Text.Json;

namespace DiT.Api.Tests.Generations;

/// <summary>Swagger documents every /generations operation with working examples.</summary>
public sealed class GenerationsOpenApiTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    async Task<JsonElement> PathsAsync()
    {
        var client = await factory.ReadyClientAsync();
        return (await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json")).GetProperty("paths");
    }

    [Fact]
    public async Task SubmitHasABodyExampleForTheServedModelTheOptionalHeadersAndJobExamples()
    {
        var submit = (await PathsAsync()).GetProperty("/generations").GetProperty("post");

        var body = submit.GetProperty("requestBody").GetProperty("content").GetProperty("application/json");
        Assert.Equal("cat", body.GetProperty("example").GetProperty("className").GetString());
        Assert.True(body.GetProperty("schema").TryGetProperty("$ref", out _) || body.GetProperty("schema").TryGetProperty("properties", out _));
        var headers = submit.GetProperty("parameters").EnumerateArray().Where(p => p.GetProperty("in").GetString() == "header")
            .ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("example").GetString());
        Assert.Equal("wait=30", headers["Prefer"]);
        Assert.NotEmpty(headers["Idempotency-Key"]!);
        foreach (var (status, state) in new[] { ("202", "queued"), ("201", "succeeded"), ("200", "running") })
            Assert.Equal(state, Example(submit, status).GetProperty("status").GetString());
        foreach (var status in new[] { "400", "422", "429", "503" })
            Assert.True(submit.GetProperty("responses").TryGetProperty(status, out _), $"{status} is documented");
    }

    [Theory]
    [InlineData("/generations/{id}", "get", "200")]
    [InlineData("/generations/{id}", "delete", "200")]
    [InlineData("/generations/{id}", "delete", "409")]
    [InlineData("/generations/{id}/events", "get", "200")]
    [InlineData("/generations/{id}/images/{k}", "get", "409")]
    [InlineData("/generations/{id}/images/{k}", "get", "404")]
    public async Task EveryOperationHasExamplesForItsAnswersAndPathParameters(string path, string method, string status)
    {
        var operation = (await PathsAsync()).GetProperty(path).GetProperty(method);

        Assert.NotEqual(JsonValueKind.Undefined, Example(operation, status).ValueKind);
        Assert.All(operation.GetProperty("parameters").EnumerateArray().Where(p => p.GetProperty("in").GetString() == "path"),
            p => Assert.True(p.TryGetProperty("example", out _), $"{p.GetProperty("name")} has an example"));
    }

    static JsonElement Example(JsonElement operation, string status) =>
        operation.GetProperty("responses").GetProperty(status).GetProperty("content").EnumerateObject().First().Value.GetProperty("example");
}
