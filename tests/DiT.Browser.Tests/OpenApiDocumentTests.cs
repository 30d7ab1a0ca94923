using System.Net.Http.Json;
using System.Text.Json;
using DiT.Api.Tests;

namespace DiT.Browser.Tests;

/// <summary>What Swagger UI is built from: the image and event-stream media types, the working example, the admin key scheme.</summary>
public sealed class OpenApiDocumentTests(ApiFactory app) : IClassFixture<ApiFactory>
{
    async Task<JsonElement> DocumentAsync()
    {
        var client = await app.ReadyClientAsync();
        return await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
    }

    [Fact]
    public async Task GenerateDeclaresPngAndAnExampleForTheServedModel()
    {
        var generate = (await DocumentAsync()).GetProperty("paths").GetProperty("/generate").GetProperty("post");

        Assert.True(generate.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("image/png", out _));
        var example = generate.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("example");
        Assert.Equal("cat", example.GetProperty("className").GetString()); // the first class of the served model
        Assert.Equal(3, example.GetProperty("steps").GetInt32()); // Engine:DefaultSteps
        Assert.Contains(generate.GetProperty("parameters").EnumerateArray(),
            p => p.GetProperty("name").GetString() == "X-Request-Id" && p.GetProperty("in").GetString() == "header");
    }

    [Fact]
    public async Task ProgressDeclaresAnEventStream()
    {
        var progress = (await DocumentAsync()).GetProperty("paths").GetProperty("/generate/progress/{id}").GetProperty("get");
        Assert.True(progress.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("text/event-stream", out _));
    }

    [Fact]
    public async Task AdminOperationsRequireTheApiKeySchemeAndOthersDoNot()
    {
        var document = await DocumentAsync();
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("AdminApiKey");
        Assert.Equal("apiKey", scheme.GetProperty("type").GetString());
        Assert.Equal("header", scheme.GetProperty("in").GetString());
        Assert.Equal("X-Api-Key", scheme.GetProperty("name").GetString());

        foreach (var path in document.GetProperty("paths").EnumerateObject())
            foreach (var operation in path.Value.EnumerateObject())
            {
                bool secured = operation.Value.TryGetProperty("security", out var security)
                    && security.EnumerateArray().Any(r => r.TryGetProperty("AdminApiKey", out _));
                Assert.True(secured == path.Name.StartsWith("/admin/"), $"{operation.Name} {path.Name}: secured={secured}");
            }
    }
}
