using System.Text.Json;

namespace DiT.Api.Requests;

/// <summary>
/// Finds a key given twice in one JSON object. Bodies bind case-insensitively, so "classId" and "ClassId" are the same
/// field; without this check the last one would silently win.
/// </summary>
public static class JsonKeys
{
    /// <summary>The first repeated key (its first and second spelling) in <paramref name="element"/> or any object inside it, or null.</summary>
    public static (string First, string Second)? FirstRepeated(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var property in element.EnumerateObject())
                {
                    if (!seen.TryAdd(property.Name, property.Name)) return (seen[property.Name], property.Name);
                    if (FirstRepeated(property.Value) is { } inner) return inner;
                }
                return null;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                    if (FirstRepeated(item) is { } inner) return inner;
                return null;
            default:
                return null;
        }
    }
}
