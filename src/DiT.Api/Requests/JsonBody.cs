using System.Text.Json;
using System.Text.Json.Serialization;
using DiT.Api.Problems;
using Microsoft.Net.Http.Headers;

namespace DiT.Api.Requests;

/// <summary>A request body read by <see cref="JsonBody.ReadAsync{T}"/>: the value, or the problem to answer with.</summary>
public readonly record struct JsonBodyResult<T>(T? Value, ProblemHttpResult? Problem) where T : class;

/// <summary>
/// The one reader of JSON request bodies. Every failure is a ProblemDetails with <c>errors</c> keyed by the field
/// ("body" for the whole body), never a bare 400/415 or a 500: wrong Content-Type or malformed JSON, wrong type or unknown
/// field (400), a key given twice in any spelling (400), a compressed body or a charset other than UTF-8 (415), a body
/// over <see cref="MaxBytes"/> (413), and broken transport: a bad chunk, a body shorter than its Content-Length (400)
/// or one arriving slower than Kestrel's minimum data rate (408).
/// </summary>
public static class JsonBody
{
    public const int MaxBytes = 16 * 1024;

    static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static async Task<JsonBodyResult<T>> ReadAsync<T>(HttpRequest request, string title, CancellationToken ct) where T : class
    {
        JsonBodyResult<T> Fail(int status, string field, string message) =>
            new(null, RequestProblems.Fields(status, title, new Dictionary<string, string[]> { [field] = [message] }));

        if (request.Headers.ContentEncoding is { Count: > 0 } encoding && !encoding.ToString().Equals("identity", StringComparison.OrdinalIgnoreCase))
            return Fail(StatusCodes.Status415UnsupportedMediaType, "body", $"Content-Encoding '{Shorten(encoding.ToString())}' is not supported: send the JSON uncompressed.");
        if (!request.HasJsonContentType())
            return Fail(StatusCodes.Status400BadRequest, "body", $"Content-Type must be application/json (got '{Shorten(request.ContentType ?? "none")}').");
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var type) && type.Charset.Value is { Length: > 0 } charset
            && !charset.Trim('"').Replace("-", "").Equals("utf8", StringComparison.OrdinalIgnoreCase))
            return Fail(StatusCodes.Status415UnsupportedMediaType, "body", $"charset '{Shorten(charset)}' is not supported: JSON bodies are UTF-8.");
        if (request.ContentLength > MaxBytes)
            return Fail(StatusCodes.Status413PayloadTooLarge, "body", $"The body is larger than {MaxBytes} bytes.");

        var buffer = new MemoryStream();
        try
        {
            var chunk = new byte[4096];
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > MaxBytes) return Fail(StatusCodes.Status413PayloadTooLarge, "body", $"The body is larger than {MaxBytes} bytes.");
            }
        }
        catch (Exception e) when (RequestProblems.IsUnreadableRequest(e))
        {
            var (status, message) = RequestProblems.Transport(e);
            return Fail(status, "body", message);
        }

        var json = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        try
        {
            using var document = JsonDocument.Parse(json);
            if (JsonKeys.FirstRepeated(document.RootElement) is { } repeated)
                return Fail(StatusCodes.Status400BadRequest, repeated.First, repeated.Second == repeated.First
                    ? $"'{Shorten(repeated.First)}' appears more than once."
                    : $"'{Shorten(repeated.First)}' and '{Shorten(repeated.Second)}' name the same field (names are case-insensitive); give it once.");
        }
        catch (JsonException) { return Fail(StatusCodes.Status400BadRequest, "body", Explain<T>("body")); }
        try
        {
            var value = JsonSerializer.Deserialize<T>(json.Span, Options);
            return value is null ? Fail(StatusCodes.Status400BadRequest, "body", "The body must be a JSON object.") : new(value, null);
        }
        catch (JsonException ex)
        {
            var field = FieldOf(ex.Path);
            return Fail(StatusCodes.Status400BadRequest, field, Explain<T>(field));
        }
    }

    static string Explain<T>(string field)
    {
        if (field == "body") return "The body is not valid JSON for this endpoint (expected an object with the documented fields).";
        var property = typeof(T).GetProperties().FirstOrDefault(p => p.Name.Equals(field, StringComparison.OrdinalIgnoreCase));
        if (property is null)
            return $"Unknown field '{Shorten(field)}': allowed {string.Join(", ", typeof(T).GetProperties().Select(p => Options.PropertyNamingPolicy!.ConvertName(p.Name)))}.";
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var expected = type == typeof(string) ? "a string" : type == typeof(double) ? "a number" : type.IsArray ? "an array of numbers" : "an integer";
        return $"'{field}' must be {expected}.";
    }

    /// <summary>"$.guidanceScale" -> "guidanceScale"; the root or unknown paths -> "body".</summary>
    static string FieldOf(string? path) =>
        path is { Length: > 2 } && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..].Split('.', '[')[0] : "body";

    static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
