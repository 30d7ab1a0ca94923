using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Checkpoints;

/// <summary>Copies a loaded state dict into a module only when every key and shape matches.</summary>
public static class StrictStateDict
{
    /// <summary>
    /// Copies each tensor into the module's parameter of the same key, converting dtype and device (fp16 files
    /// load into fp32 modules). Copies nothing and throws, naming every missing, unexpected and wrong-shaped key,
    /// unless the key sets are equal and all shapes agree. <paramref name="what"/> names the source in the error.
    /// </summary>
    public static void CopyInto(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string what)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrongShape = target.Where(kv => source.TryGetValue(kv.Key, out var s) && !s.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key}: file {Shape(source[kv.Key])} vs model {Shape(kv.Value)}").ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {string.Join(", ", missing)}");
            if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {string.Join(", ", unexpected)}");
            if (wrongShape.Count > 0) parts.Add($"{wrongShape.Count} wrong-shaped tensor(s): {string.Join("; ", wrongShape)}");
            throw new InvalidDataException($"{what} does not match the model: {string.Join("; ", parts)}.");
        }

        using var noGrad = no_grad();
        foreach (var (key, tensor) in target) tensor.copy_(source[key]);
    }

    static string Shape(Tensor t) => $"[{string.Join(", ", t.shape)}]";
}
