using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Checkpoints;

/// <summary>A checkpoint whose keys or shapes do not match a module; the message names every offending key.</summary>
public sealed class CheckpointMismatchException : Exception
{
    public IReadOnlyList<string> Missing { get; }
    public IReadOnlyList<string> Unexpected { get; }
    /// <summary>"key: checkpoint [a, b] vs model [c, d]" entries.</summary>
    public IReadOnlyList<string> WrongShape { get; }

    public CheckpointMismatchException(string what, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> wrongShape)
        : base(Describe(what, missing, unexpected, wrongShape)) =>
        (Missing, Unexpected, WrongShape) = (missing, unexpected, wrongShape);

    static string Describe(string what, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> wrongShape)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {string.Join(", ", missing)}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {string.Join(", ", unexpected)}");
        if (wrongShape.Count > 0) parts.Add($"{wrongShape.Count} wrong-shaped tensor(s): {string.Join("; ", wrongShape)}");
        return $"{what} does not match the model: {string.Join("; ", parts)}.";
    }
}

/// <summary>State-dict helpers shared by every module loader (DiT, VAE, training resume).</summary>
public static class StateDicts
{
    /// <summary>
    /// Copies every tensor of <paramref name="source"/> into the module's parameter/buffer of the same key, converting
    /// dtype and device to the module's. Nothing is copied unless the key sets are equal and every shape matches;
    /// otherwise a <see cref="CheckpointMismatchException"/> names all differences. <paramref name="what"/> names the source in errors.
    /// </summary>
    public static void CopyStrict(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string what)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrongShape = target.Where(kv => source.TryGetValue(kv.Key, out var s) && !s.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key}: checkpoint {Shape(source[kv.Key])} vs model {Shape(kv.Value)}").ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
            throw new CheckpointMismatchException(what, missing, unexpected, wrongShape);

        using var noGrad = no_grad();
        foreach (var (key, tensor) in target) tensor.copy_(source[key]);
    }

    /// <summary>Disposes every tensor of a loaded state dict.</summary>
    public static void DisposeAll(IEnumerable<Tensor> tensors)
    {
        foreach (var t in tensors) t.Dispose();
    }

    static string Shape(Tensor t) => $"[{string.Join(", ", t.shape)}]";
}
