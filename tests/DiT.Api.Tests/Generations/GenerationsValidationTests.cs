using System.Net;
using System.Text;

namespace DiT.Api.Tests.Generations;

/// <summary>Bad input on every /generations route: 400 naming the field and what is allowed, 404 for unknown jobs, never a 500.</summary>
public sealed class GenerationsValidationTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    [Theory]
    [InlineData("""{"classId": 1, "n": 0}""", "n", "between 1 and 16")]
    [InlineData("""{"classId": 1, "n": 17}""", "n", "between 1 and 16")]
    [InlineData("""{"classId": 1, "n": "two"}""", "n", "an integer")]
    [InlineData("""{"classId": 1, "n": 2.5}""", "n", "an integer")]
    [InlineData("""{"classId": 1, "format": "gif"}""", "format", "png, jpeg, webp")]
    [InlineData("""{"classId": 1, "quality": 80}""", "quality", "jpeg and webp only")]
    [InlineData("""{"classId": 1, "format": "jpeg", "quality": 0}""", "quality", "between 1 and 100")]
    [InlineData("""{"classId": 1, "format": "webp", "quality": 101}""", "quality", "between 1 and 100")]
    [InlineData("""{"classId": 1, "webhook": "https://hooks.example.com/x"}""", "webhook", "Webhooks are off")]
    [InlineData("""{"classId": 1, "seed": 9007199254740991, "n": 2}""", "seed", "at most 9007199254740990 for n = 2")]
    [InlineData("""{"classId": 9}""", "classId", "0..3")]
    [InlineData("""{"classId": 1, "steps": 5000}""", "steps", "between 1 and 1000")]
    [InlineData("""{"classId": 1, "batchSize": 4}""", "batchSize", "allowed n, webhook, classId, className")]
    [InlineData("""{"classId": 1""", "body", "not valid JSON")]
    public async Task SubmitWithBadInputNamesTheField(string body, string field, string allowed)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/generations", new StringContent(body, Encoding.UTF8, "application/json"));
        await Problems.AssertValidationProblem(response, field, allowed);
    }

    [Theory]
    [InlineData("""{"classId": 1, "format": "bmp"}""", "format", "png, jpeg, webp")]
    [InlineData("""{"classId": 1, "format": "png", "quality": 50}""", "quality", "jpeg and webp only")]
    [InlineData("""{"classId": 1, "format": "jpeg", "quality": -5}""", "quality", "between 1 and 100")]
    public async Task GenerateWithABadFormatOrQualityNamesTheField(string body, string field, string allowed)
    {
        var client = await factory.ReadyClientAsync();
        await Problems.AssertValidationProblem(await client.PostRawAsync(body), field, allowed);
    }

    [Theory]
    [InlineData("GET", "/generations/not-a-job")]
    [InlineData("GET", "/generations/ABCDEF0123456789ABCDEF0123456789")]
    [InlineData("GET", "/generations/not-a-job/events")]
    [InlineData("GET", "/generations/not-a-job/images/0")]
    [InlineData("DELETE", "/generations/not-a-job")]
    public async Task AMalformedJobIdIsRefusedNamingId(string method, string path)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await Problems.AssertValidationProblem(response, "id", "32 lowercase hex digits");
    }

    [Theory]
    [InlineData("GET", "")]
    [InlineData("GET", "/events")]
    [InlineData("GET", "/images/0")]
    [InlineData("DELETE", "")]
    public async Task AnUnknownJobIs404(string method, string suffix)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), $"/generations/{Guid.NewGuid():N}{suffix}"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("-1")]
    [InlineData("first")]
    [InlineData("99999999999999999999")]
    public async Task AnImageIndexOutsideTheJobIsRefusedNamingK(string k)
    {
        var client = await factory.ReadyClientAsync();
        var job = await (await client.SubmitAsync(new { classId = 0, steps = 1, n = 2 })).JobAsync();
        var response = await client.GetAsync($"/generations/{job.Id}/images/{k}");
        await Problems.AssertValidationProblem(response, "k", "0..1");
    }

    [Fact]
    public async Task ANonJsonSubmitIsRefusedNamingTheBody()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/generations", new StringContent("""{"classId": 1}""", Encoding.UTF8, "text/plain"));
        await Problems.AssertValidationProblem(response, "body", "application/json");
    }
}
