using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DiT.Testing;

namespace DiT.Api.Tests;

/// <summary>Every bad fine-tuning request is a 400 ValidationProblem naming the field, and starts no job.</summary>
public sealed class TrainingValidationTests(TrainingData data) : IClassFixture<TrainingData>
{
    readonly TrainingData _data = data;
    ApiFactory Factory => _data.Shared;

    public static TheoryData<string, string> BadRequests => new()
    {
        { """{}""", "data" },
        { """{"data": "{data}/missing"}""", "data" },
        { """{"data": "{data}/empty"}""", "data" },
        { """{"data": "{data}/broken"}""", "data" },
        { """{"data": "{data}/three"}""", "data" },
        { """{"data": "/etc"}""", "data" },
        { """{"data": "{data}/good/../../outside"}""", "data" },
        { """{"data": "{data}/escape"}""", "data" },
        { """{"data": "{data}/good", "learningRate": 0}""", "learningRate" },
        { """{"data": "{data}/good", "learningRate": 2}""", "learningRate" },
        { """{"data": "{data}/good", "steps": 0}""", "steps" },
        { """{"data": "{data}/good", "steps": 2000000000}""", "steps" },
        { """{"data": "{data}/good", "batchSize": 0}""", "batchSize" },
        { """{"data": "{data}/good", "batchSize": 1000000}""", "batchSize" },
        { """{"data": "{data}/good", "emaDecay": 1}""", "emaDecay" },
        { """{"data": "{data}/good", "emaDecay": -0.5}""", "emaDecay" },
        { """{"data": "{data}/good", "checkpointEvery": 0}""", "checkpointEvery" },
        { """{"data": "{data}/good", "imageSize": 16}""", "imageSize" },
        { """{"data": "{data}/good", "init": "yesterday"}""", "init" },
        { """{"data": "{data}/good", "init": "scratch", "imageSize": 8}""", "preset" },
        { """{"data": "{data}/good", "init": "checkpoint", "checkpoint": "{data}/good/c0/0.png"}""", "checkpoint" },
        { """{"data": "{data}/good", "init": "checkpoint", "checkpoint": "/etc/passwd"}""", "checkpoint" },
        { """{"data": "{data}/good", "steps": "many"}""", "steps" },
        // issue 20: links out of the roots below the top folder, FIFOs, NUL bytes, negative seeds
        { """{"data": "{data}/classlink"}""", "data" },
        { """{"data": "{data}/imagelink"}""", "data" },
        { """{"data": "{data}/fifo"}""", "data" },
        { """{"data": "{data}/good\u0000/../good"}""", "data" },
        { """{"data": "{data}/good", "init": "checkpoint", "checkpoint": "{data}/checkpoints/x\u0000"}""", "checkpoint" },
        { """{"data": "{data}/good", "init": "checkpoint", "checkpoint": "{data}/checkpoints/fifo.safetensors"}""", "checkpoint" },
        { """{"data": "{data}/good", "seed": -1}""", "seed" },
    };

    public static TheoryData<string> MalformedCheckpoints => [.. CraftedFiles.MalformedSafetensors.Keys];

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadFinetuneRequestIsAValidationProblemNamingTheField(string body, string field)
    {
        var client = await TrainingData.AdminClientAsync(Factory);
        var response = await client.PostAsync("/admin/finetune",
            new StringContent(body.Replace("{data}", _data.Data), System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        var errors = JsonNode.Parse(text)!["errors"]!.AsObject();
        Assert.True(errors.ContainsKey(field), $"expected an error for '{field}': {text}");
        Assert.Equal("[]", await client.GetStringAsync("/admin/jobs"));
    }

    [Theory]
    [MemberData(nameof(MalformedCheckpoints))]
    public async Task AMalformedCheckpointIsAValidationProblemThatQuotesNothingOfIt(string kind)
    {
        var client = await TrainingData.AdminClientAsync(Factory);
        var response = await client.PostAsJsonAsync("/admin/finetune", new { data = _data.Good, init = "checkpoint", checkpoint = _data.CheckpointOf(kind) });
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Contains(_data.CheckpointOf(kind), JsonNode.Parse(text)!["errors"]!["checkpoint"]![0]!.GetValue<string>());
        Assert.DoesNotContain("root:x", text);
    }
}
