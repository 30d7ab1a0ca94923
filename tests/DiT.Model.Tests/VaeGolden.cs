using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>The golden tiny VAE of a manifest case: its config and its weights file.</summary>
static class VaeGolden
{
    public static string WeightsPath(GoldenCase c) =>
        Golden.Default.PathOf(c.Node["weights"]!["safetensors"]!.GetValue<string>());

    public static AutoencoderKLConfig Config(GoldenCase c) => AutoencoderKLConfig.FromJson(c.Config.ToJsonString(), c.Name);

    /// <summary>Builds the case's VAE from its manifest config and loads its weights strictly.</summary>
    public static AutoencoderKL Load(GoldenCase c, IReadOnlyDictionary<string, Tensor>? stateDict = null)
    {
        var vae = new AutoencoderKL(Config(c));
        var tensors = stateDict ?? Safetensors.Load(WeightsPath(c));
        try { vae.LoadStateDict(tensors, WeightsPath(c)); }
        finally { if (stateDict is null) StateDicts.DisposeAll(tensors.Values); }
        vae.eval();
        return vae;
    }
}
