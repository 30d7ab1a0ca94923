using System.Net;

namespace DiT.Api.Tests.Generations;

/// <summary>Prefer: wait=N on POST /generations.</summary>
public sealed class PreferWaitTests
{
    [Fact]
    public async Task AJobThatEndsWithinTheWaitIsAnswered201WithItsImages()
    {
        using var factory = new ApiFactory().With("Generations:MaxWaitSeconds", "600");
        var client = await factory.ReadyClientAsync();

        // 600 s is the bound the client sets, not a guess at the job's speed (one step of an 8x8 model).
        var response = await client.SubmitAsync(new { classId = 1, steps = 1, seed = 3, n = 2 }, prefer: "respond-async, wait=600");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("wait=600", response.Header("Preference-Applied"));
        var job = await response.JobAsync();
        Assert.Equal("succeeded", job.Status);
        Assert.Equal(2, job.Images.Count);
        Assert.Equal(job.Links.Self, response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task AJobStillRunningWhenTheWaitEndsIsAnswered202()
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        using var gate = factory.Probe.GateAt(seed: 3, step: 1); // the job cannot end before the test does

        var response = await client.SubmitAsync(new { classId = 1, steps = 2, seed = 3 }, prefer: "wait=1");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("wait=1", response.Header("Preference-Applied"));
        Assert.Contains((await response.JobAsync()).Status, new[] { "queued", "running" });
    }

    [Theory]
    [InlineData("wait=soon")]
    [InlineData("wait=61")]
    [InlineData("wait=-1")]
    [InlineData("wait")]
    public async Task AWaitThatIsNotWholeSecondsWithinTheLimitIsRefusedNamingPrefer(string prefer)
    {
        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        var response = await client.SubmitAsync(new { classId = 1 }, prefer: prefer);
        await Problems.AssertValidationProblem(response, "Prefer", "0..60");
    }
}
