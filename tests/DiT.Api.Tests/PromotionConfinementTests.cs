using System.Net;
using System.Text.Json;
using DiT.Api.Promotions;
using DiT.Api.Training;
using DiT.Model.Checkpoints;
using DiT.Serving.Engine;
using DiT.Testing;
using DiT.Training;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests;

/// <summary>
/// Finding 3 and 4 at promotion: promote follows no symbolic link out of the jobs folder (400), refuses a malformed
/// checkpoint with a 409 that quotes none of the file (it printed /etc/passwd's first bytes as "header length
/// 3475222254926655346"), and a promotion message naming a file outside the promotions folder is not applied.
/// </summary>
public sealed class PromotionConfinementTests(TrainingData data) : IClassFixture<TrainingData>
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>A jobs folder holding one completed job whose latest checkpoint is <paramref name="place"/>d there.</summary>
    (ApiFactory Factory, string JobId) JobWithCheckpoint(Action<string> place)
    {
        var jobs = Path.Combine(data.Root, "jobs-" + Guid.NewGuid().ToString("N")[..8]);
        var id = Guid.NewGuid().ToString("N")[..12];
        var checkpoint = Path.Combine(jobs, id, "checkpoints", "4.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(checkpoint)!);
        place(checkpoint);
        var job = new TrainingJob(id, JobState.Completed, new JobSpec(data.Good, "scratch", null, "DiT-S/2", 3, new TrainingOptions()), DateTimeOffset.UtcNow)
        {
            LatestCheckpoint = checkpoint,
        };
        File.WriteAllText(Path.Combine(jobs, id, "job.json"), JsonSerializer.Serialize(job, Json));
        return (data.Factory(jobs), id);
    }

    [Fact]
    public async Task ACheckpointLinkedOutOfTheJobsFolderIsNotFollowed()
    {
        var outside = Path.Combine(data.Root, "outside-checkpoint.safetensors");
        using (var model = DefaultModel.RandomWeights(ApiFactory.TinyConfig, seed: 3)) DiTCheckpoint.Save(model, outside);
        var (factory, id) = JobWithCheckpoint(checkpoint => File.CreateSymbolicLink(checkpoint, outside));
        using var _ = factory;
        var client = await TrainingData.AdminClientAsync(factory);
        var served = factory.Engine.Model!.Fingerprint;

        var response = await client.PostAsync($"/admin/jobs/{id}/promote", null);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("out of the jobs folder", await response.Content.ReadAsStringAsync());
        Assert.Equal(served, factory.Engine.Model!.Fingerprint);
    }

    public static TheoryData<string> MalformedCheckpoints => [.. CraftedFiles.MalformedSafetensors.Keys];

    [Theory]
    [MemberData(nameof(MalformedCheckpoints))]
    public async Task AMalformedCheckpointIsA409ThatQuotesNothingOfIt(string kind)
    {
        var (factory, id) = JobWithCheckpoint(checkpoint => File.WriteAllBytes(checkpoint, CraftedFiles.MalformedSafetensors[kind]));
        using var _ = factory;
        var client = await TrainingData.AdminClientAsync(factory);

        var response = await client.PostAsync($"/admin/jobs/{id}/promote", null);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.Conflict, text);
        Assert.Contains("cannot be loaded", text);
        Assert.DoesNotContain("root:x", text);
        Assert.DoesNotContain("3475222254926655346", text);
    }

    [Fact]
    public async Task APromotionMessageNamingAFileOutsideThePromotionsFolderIsNotApplied()
    {
        var folder = Directory.CreateDirectory(Path.Combine(data.Root, "promoted-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var outside = Path.Combine(data.Root, "planted.safetensors");
        using (var model = DefaultModel.RandomWeights(ApiFactory.TinyConfig, seed: 4)) DiTCheckpoint.Save(model, outside);
        var linked = Path.Combine(folder, "linked.safetensors");
        File.CreateSymbolicLink(linked, outside);
        var inside = Path.Combine(folder, "inside.safetensors");
        File.Copy(outside, inside);
        using var factory = data.Factory().With("Promotions:Folder", folder);
        await factory.ReadyClientAsync();
        var fanOut = factory.Services.GetRequiredService<PromotionFanOut>();
        var fingerprint = PipelineLoader.FileFingerprint(outside);

        Assert.Null(fanOut.Load(new PromotionMessage(outside, fingerprint, "job", "elsewhere")));
        Assert.Null(fanOut.Load(new PromotionMessage(linked, fingerprint, "job", "elsewhere")));
        Assert.Null(fanOut.Load(new PromotionMessage(inside + "\0", fingerprint, "job", "elsewhere")));
        using var loaded = fanOut.Load(new PromotionMessage(inside, fingerprint, "job", "elsewhere"));
        Assert.NotNull(loaded);
    }
}
