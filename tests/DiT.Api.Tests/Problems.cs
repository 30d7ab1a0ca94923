using System.Net;
using System.Text.Json;

namespace DiT.Api.Tests;

/// <summary>Assertions on ProblemDetails answers.</summary>
public static class Problems
{
    /// <summary>A ValidationProblem (400 unless <paramref name="status"/> says otherwise) whose errors name
    /// <paramref name="field"/> with a message containing <paramref name="allowed"/>.</summary>
    public static async Task AssertValidationProblem(HttpResponseMessage response, string field, string allowed,
        HttpStatusCode status = HttpStatusCode.BadRequest)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"no error for '{field}' in {errors}");
        Assert.Contains(allowed, messages[0].GetString());
    }
}
