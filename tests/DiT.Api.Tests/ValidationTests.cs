using System.Net;
using System.Text.Json;

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
    public async Task GenerateWithOversizedBodyReturnsValidationProblem()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostRawAsync($$"""{"classId": 1, "className": "{{new string('x', 20_000)}}"}""");
        await AssertValidationProblem(response, "body", "larger than");
    }

    static async Task AssertValidationProblem(HttpResponseMessage response, string field, string allowed)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"no error for '{field}' in {errors}");
        Assert.Contains(allowed, messages[0].GetString());
    }
}
