namespace DiT.Serving.Engine;

/// <summary>Wire names of the samplers, shared by validation, options and docs.</summary>
public static class SamplerNames
{
    public static readonly IReadOnlyDictionary<string, Sampler> ByName = new Dictionary<string, Sampler>(StringComparer.OrdinalIgnoreCase)
    {
        ["ddpm"] = Sampler.Ddpm,
        ["ddim"] = Sampler.Ddim,
        ["dpmpp-2m"] = Sampler.DpmPP2M,
    };

    public static string Allowed => string.Join(", ", ByName.Keys);

    public static string NameOf(Sampler sampler) => ByName.First(kv => kv.Value == sampler).Key;
}
