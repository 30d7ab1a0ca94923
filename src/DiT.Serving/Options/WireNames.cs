namespace DiT.Serving.Options;

/// <summary>Lists allowed names as a setting's error message says them: "a, b or c".</summary>
static class WireNames
{
    public static string OneOf(IEnumerable<string> names)
    {
        var all = names.ToArray();
        return all.Length == 1 ? all[0] : $"{string.Join(", ", all[..^1])} or {all[^1]}";
    }
}
