namespace DiT.Diffusion;

/// <summary>The samplers' wire names (ddpm, ddim, dpmpp-2m): requests, settings, the playground, image metadata and the
/// CLI spell them so, and parse them here.</summary>
public static class SamplerNames
{
    public static readonly IReadOnlyDictionary<string, SamplerKind> ByName = new Dictionary<string, SamplerKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["ddpm"] = SamplerKind.Ddpm,
        ["ddim"] = SamplerKind.Ddim,
        ["dpmpp-2m"] = SamplerKind.DpmSolverPP2M,
    };

    public static string Allowed => string.Join(", ", ByName.Keys);

    public static string NameOf(SamplerKind sampler) => ByName.First(kv => kv.Value == sampler).Key;
}
