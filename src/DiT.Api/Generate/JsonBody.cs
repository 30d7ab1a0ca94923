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
        var json = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        try { using var syntax = JsonDocument.Parse(json); }
        catch (JsonException)
        {
            errors["body"] = [Explain<T>("body")];
            return null;
        }
        try
        {
            var value = JsonSerializer.Deserialize<T>(json.Span, Options);
            if (value is null) errors["body"] = ["The body must be a JSON object."];
            return value;
        }
        catch (JsonException ex)
        {
            var field = FieldOf(ex.Path);
            errors[field] = [Explain<T>(field)];
            return null;
        }
    }

    static string Explain<T>(string field)
    {
        if (field == "body") return "The body is not valid JSON for this endpoint (expected an object with the documented fields).";
        var property = typeof(T).GetProperties().FirstOrDefault(p => p.Name.Equals(field, StringComparison.OrdinalIgnoreCase));
        if (property is null)
            return $"Unknown field '{field}': allowed {string.Join(", ", typeof(T).GetProperties().Select(p => Options.PropertyNamingPolicy!.ConvertName(p.Name)))}.";
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var expected = type == typeof(string) ? "a string" : type == typeof(double) ? "a number" : type.IsArray ? "an array of numbers" : "an integer";
        return $"'{field}' must be {expected}.";
    }

    /// <summary>"$.guidanceScale" -> "guidanceScale"; the root or unknown paths -> "body".</summary>
    static string FieldOf(string? path) =>
        path is { Length: > 2 } && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..].Split('.', '[')[0] : "body";
}
