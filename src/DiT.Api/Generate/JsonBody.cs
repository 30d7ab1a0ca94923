using System.Text.Json;
using System.Text.Json.Serialization;

namespace DiT.Api.Generate;

/// <summary>
/// Reads a JSON request body with our own checks, so that every failure (content type, size, syntax,
/// wrong type, unknown field) becomes a 400 ValidationProblem naming the field, never a bare 400/415/500.
/// </summary>
public static class JsonBody
{
    public const int MaxBytes = 16 * 1024;

    static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static async Task<T?> ReadAsync<T>(HttpRequest request, IDictionary<string, string[]> errors, CancellationToken ct) where T : class
    {
        if (!request.HasJsonContentType())
        {
            errors["body"] = [$"Content-Type must be application/json (got '{request.ContentType ?? "none"}')."];
            return null;
        }
        if (request.ContentLength > MaxBytes)
        {
            errors["body"] = [$"The body is larger than {MaxBytes} bytes."];
            return null;
        }
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBytes)
            {
                errors["body"] = [$"The body is larger than {MaxBytes} bytes."];
                return null;
            }
        }
        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options);
            if (value is null) errors["body"] = ["The body must be a JSON object."];
            return value;
        }
        catch (JsonException ex)
        {
            var field = FieldOf(ex.Path);
            errors[field] = [field == "body"
                ? "The body is not valid JSON for this endpoint (expected an object with the documented fields)."
                : $"'{field}' has an invalid value or is not a known field; see the schema at /swagger."];
            return null;
        }
    }

    /// <summary>"$.guidanceScale" -> "guidanceScale"; the root or unknown paths -> "body".</summary>
    static string FieldOf(string? path) =>
        path is { Length: > 2 } && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..].Split('.', '[')[0] : "body";
}
