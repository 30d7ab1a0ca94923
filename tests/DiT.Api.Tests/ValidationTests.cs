using System.Net;
using static DiT.Api.Tests.Problems;

namespace DiT.Api.Tests;

public sealed class ValidationTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    [Theory]
    [InlineData("""{"classId": 4}""", "classId", "0..3")]
    [InlineData("""{"classId": -1}""", "classId", "0..3")]
    [InlineData("""{"className": "unicorn"}""", "className", "GET /classes")]
    [InlineData("""{"classId": 1, "className": "cat"}""", "className", "not both")]
    [InlineData("""{"steps": 3}""", "classId", "Required")]
    [InlineData("""{"classId": 1, "guidanceScale": 0.5}""", "guidanceScale", "between 1")]
    [InlineData("""{"classId": 1, "guidanceScale": 1000}""", "guidanceScale", "between 1")]
    [InlineData("""{"classId": 1, "steps": 0}""", "steps", "between 1 and 1000")]
    [InlineData("""{"classId": 1, "steps": 5000}""", "steps", "between 1 and 1000")]
    [InlineData("""{"classId": 1, "sampler": "euler"}""", "sampler", "ddpm, ddim, dpmpp-2m")]
    [InlineData("""{"classId": 1, "seed": -3}""", "seed", "between 0")]
    [InlineData("""{"classId": 1, "seed": -1}""", "seed", "between 0")]
    [InlineData("""{"classId": 1, "classId": 2}""", "classId", "more than once")]
    [InlineData("""{"classId": 1, "ClassId": 2}""", "classId", "'ClassId' name the same field")]
    [InlineData("""{"steps": 2, "classId": 1, "STEPS": 3}""", "steps", "case-insensitive")]
    [InlineData("""{"classId": 1, "sampler": "dpmpp-2m", "steps": 1000}""", "steps", "between 1 and 999 for dpmpp-2m")]
    [InlineData("""{"classId": 1, "guidanceScale": 2, "guidanceInterval": [5, 1]}""", "guidanceInterval", "0 <= low < high")]
    [InlineData("""{"classId": 1, "guidanceScale": 2, "guidanceInterval": [-1, 1]}""", "guidanceInterval", "0 <= low < high")]
    [InlineData("""{"classId": 1, "guidanceScale": 2, "guidanceInterval": [1]}""", "guidanceInterval", "0.01 (t = 0) to 157")]
    [InlineData("""{"classId": 1, "guidanceScale": 2, "guidanceInterval": [1, 2, 3]}""", "guidanceInterval", "[low, high]")]
    [InlineData("""{"classId": 1, "guidanceScale": 1, "guidanceInterval": [1, 2]}""", "guidanceInterval", "needs guidanceScale > 1")]
    [InlineData("""{"classId": 1, "guidanceScale": 2, "guidanceInterval": 3}""", "guidanceInterval", "an array of numbers")]
    [InlineData("""{"classId": 1, "guidanceScale": 2, "guidanceInterval": ["a", 3]}""", "guidanceInterval", "an array of numbers")]
    [InlineData("""{"classId": 1, "cache": "lru:2"}""", "cache", "allowed off, fora:N or taylor:N (N = 1..20")]
    [InlineData("""{"classId": 1, "cache": "fora:0"}""", "cache", "fora:N")]
    [InlineData("""{"classId": 1, "cache": "teacache:5"}""", "cache", "teacache:T (T = 0..2")]
    [InlineData("""{"classId": 1, "cache": 2}""", "cache", "a string")]
    [InlineData("""{"classId": "one"}""", "classId", "an integer")]
    [InlineData("""{"classId": 1, "guidanceScale": "high"}""", "guidanceScale", "a number")]
    [InlineData("""{"classId": 1, "colour": "red"}""", "colour", "allowed classId, className")]
    [InlineData("""{"classId": 1""", "body", "not valid JSON")]
    [InlineData("""[1, 2]""", "body", "not valid JSON")]
    [InlineData("""null""", "body", "JSON object")]
    public async Task GenerateWithBadInputReturnsValidationProblemNamingTheField(string body, string field, string allowed)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostRawAsync(body);
        await AssertValidationProblem(response, field, allowed);
    }

    [Fact]
    public async Task GenerateWithWrongContentTypeReturnsValidationProblem()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostRawAsync("""{"classId": 1}""", "text/plain");
        await AssertValidationProblem(response, "body", "application/json");
    }

    [Fact]
    public async Task GenerateWithOversizedBodyReturns413()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostRawAsync($$"""{"classId": 1, "className": "{{new string('x', 20_000)}}"}""");
        await AssertValidationProblem(response, "body", "larger than", HttpStatusCode.RequestEntityTooLarge);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    public async Task GenerateWithACompressedBodyReturns415(string encoding)
    {
        var client = await factory.ReadyClientAsync();
        var content = new StringContent("""{"classId": 1}""", System.Text.Encoding.UTF8, "application/json");
        content.Headers.ContentEncoding.Add(encoding);
        var response = await client.PostAsync("/generate", content);
        await AssertValidationProblem(response, "body", "Content-Encoding", HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [InlineData("utf-16")]
    [InlineData("iso-8859-1")]
    public async Task GenerateWithACharsetOtherThanUtf8Returns415(string charset)
    {
        var client = await factory.ReadyClientAsync();
        var content = new ByteArrayContent(System.Text.Encoding.GetEncoding(charset).GetBytes("""{"classId": 1}"""));
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse($"application/json; charset={charset}");
        var response = await client.PostAsync("/generate", content);
        await AssertValidationProblem(response, "body", "UTF-8", HttpStatusCode.UnsupportedMediaType);
    }
}
