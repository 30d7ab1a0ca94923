namespace DiT.Diffusion;

/// <summary>The guidance modes' wire names (reference, all-channels), as Engine:GuidanceMode, cache keys and image
/// metadata spell them.</summary>
public static class GuidanceModeNames
{
    public static readonly IReadOnlyDictionary<string, GuidanceMode> ByName = new Dictionary<string, GuidanceMode>(StringComparer.OrdinalIgnoreCase)
    {
        ["reference"] = GuidanceMode.Reference,
        ["all-channels"] = GuidanceMode.AllChannels,
    };

    public static string NameOf(GuidanceMode mode) => ByName.First(kv => kv.Value == mode).Key;
}
