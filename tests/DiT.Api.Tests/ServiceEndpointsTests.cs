using System.Net;
using System.Text.Json;

namespace DiT.Api.Tests;

[Collection(nameof(ProcessWideMeters))] // reads /metrics
public sealed class ServiceEndpointsTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task ReadinessAndLivenessAnswerOkOnceTheModelIsLoaded()
    {
        var client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        Assert.True(factory.Engine.IsReady);
    }

    [Fact]
    public async Task ClassesListsTheNamesBesideTheCheckpoint()
    {
        var client = await factory.ReadyClientAsync();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/classes"));
        var classes = json.RootElement.GetProperty("classes");

        Assert.Equal(4, json.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(1, classes[1].GetProperty("id").GetInt32());
        Assert.Equal(["dog", "puppy", "golden retriever"], classes[1].GetProperty("names").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public async Task ModelDescribesConfigSizeDeviceAndFingerprint()
    {
        var client = await factory.ReadyClientAsync();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/model"));
        var model = json.RootElement;

        Assert.Equal(ApiFactory.TinyConfig.ParameterCount(), model.GetProperty("parameters").GetInt64());
        Assert.Equal(32, model.GetProperty("config").GetProperty("hidden_size").GetInt32());
        Assert.Equal("cpu", model.GetProperty("device").GetString());
        Assert.Equal("float32", model.GetProperty("dtype").GetString());
        Assert.Equal(16, model.GetProperty("fingerprint").GetString()!.Length);
        Assert.False(model.GetProperty("isUntrainedDefault").GetBoolean());
        Assert.True(model.GetProperty("gflops").GetDouble() > 0);
    }

    [Fact]
    public async Task SwaggerDocumentsGenerateAsReturningPng()
    {
        var client = await factory.ReadyClientAsync();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/swagger/v1/swagger.json"));
        var generate = json.RootElement.GetProperty("paths").GetProperty("/generate").GetProperty("post");

        Assert.True(generate.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("image/png", out _));
        Assert.True(generate.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/swagger/index.html")).StatusCode);
    }

    [Fact]
    public async Task MetricsEndpointExportsTheServiceMeter()
    {
        var client = await factory.ReadyClientAsync();
        await client.GenerateAsync(new { classId = 0, steps = 1, seed = 1 });

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("dit_images_generated", metrics);
        Assert.Contains("dit_batch_size", metrics);
    }

    [Fact]
    public async Task AnUnknownRouteIsAProblemNotAnError()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.GetAsync("/nope");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
