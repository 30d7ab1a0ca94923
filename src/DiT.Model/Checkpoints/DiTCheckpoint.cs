using System.Globalization;
using System.Text.RegularExpressions;
using DiT.Model.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Checkpoints;

/// <summary>
/// Loads and saves DiT weights: the official .pt files (plain state dicts), the reference trainer's
/// {"model", "ema", "opt"} checkpoints, and safetensors (with the config in the metadata, as Save writes it).
/// </summary>
public static partial class DiTCheckpoint
{
    /// <summary>Safetensors metadata key holding <see cref="DiTConfig.ToJson"/>.</summary>
    public const string ConfigMetadataKey = "config";

    /// <summary>
    /// Builds a model from a checkpoint alone: the config comes from the safetensors metadata when present,
    /// otherwise it is inferred from the tensor shapes. Weights are converted to <paramref name="dtype"/>
    /// (default float32) on <paramref name="device"/> (default CPU). <paramref name="config"/> overrides the stored
    /// config (it must agree with the tensors; useful for head counts of non-preset widths in .pt files).
    /// For a trainer checkpoint, <paramref name="entry"/> picks "ema" (default) or "model". The model is returned in eval mode.
    /// </summary>
    public static DiTModel Load(string path, Device? device = null, ScalarType? dtype = null, DiTConfig? config = null, string? entry = null)
    {
        var (stateDict, metadataConfig) = ReadStateDict(path, entry);
        try
        {
            config = InferConfig(stateDict, config ?? metadataConfig);
            var model = new DiTModel(config, initialize: false);   // every tensor is overwritten below
            try
            {
                model.to(dtype ?? ScalarType.Float32);
                if (device is not null) model.to(device);
                LoadStateDict(model, stateDict, path);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            model.eval();
            return model;
        }
        finally { StateDicts.DisposeAll(stateDict.Values); }
    }

    /// <summary>The raw tensors (CPU, stored dtype) of a .pt or .safetensors file and the config from its metadata, if any.</summary>
    public static (Dictionary<string, Tensor> StateDict, DiTConfig? MetadataConfig) ReadStateDict(string path, string? entry = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No checkpoint at '{path}'.", path);
        RegularFile.Check(path);
        if (TorchPickle.IsZipCheckpoint(path)) return (TorchPickle.ReadStateDict(path, entry), null);

        var header = Safetensors.ReadHeader(path);
        DiTConfig? config = null;
        if (header.Metadata.TryGetValue(ConfigMetadataKey, out var json))
        {
            try { config = DiTConfig.FromJson(json); }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            { throw new InvalidDataException($"{path}: the '{ConfigMetadataKey}' metadata is not a valid DiT config.", e); }
        }
        return (ReadSafetensorsEntry(path, header, entry), config);
    }

    /// <summary>
    /// A plain safetensors state dict, or, for a trainer checkpoint (DiT.Training: "model.", "ema." and "opt." prefixed
    /// tensors), the entry <paramref name="entry"/> picks ("ema" by default: the weights to serve) with its prefix removed.
    /// </summary>
    static Dictionary<string, Tensor> ReadSafetensorsEntry(string path, Safetensors.Header header, string? entry)
    {
        if (!header.Tensors.Keys.Any(k => k.StartsWith("ema.", StringComparison.Ordinal))) return Safetensors.Load(path);
        var prefix = (entry ?? "ema") + ".";
        var selected = Safetensors.Load(path, k => k.StartsWith(prefix, StringComparison.Ordinal));
        if (selected.Count == 0) throw new InvalidDataException($"{path}: a training checkpoint with no '{prefix}' tensors (entries are 'model' and 'ema').");
        return selected.ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
    }

    /// <summary>Strict copy of a state dict into the model (dtype/device converted); throws <see cref="CheckpointMismatchException"/> listing every missing, unexpected and wrong-shaped key.</summary>
    public static void LoadStateDict(DiTModel model, IReadOnlyDictionary<string, Tensor> stateDict, string what = "The checkpoint") =>
        StateDicts.CopyStrict(model, stateDict, what);

    /// <summary>Writes the model's state dict as safetensors with its config (and any extra entries) in the metadata.</summary>
    public static void Save(DiTModel model, string path, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var metadata = new Dictionary<string, string>(extraMetadata ?? new Dictionary<string, string>())
        {
            [ConfigMetadataKey] = model.Config.ToJson(),
            ["format"] = "DiT state_dict (models.DiT key names)",
        };
        Safetensors.Save(path, model.state_dict(), metadata);
    }

    // ---------------------------------------------------------------- config inference

    /// <summary>
    /// The config a state dict was made with. Shapes give depth (block count), width, channels and patch
    /// (x_embedder.proj.weight), input size (pos_embed tokens x patch), MLP ratio, learn_sigma (final linear outputs vs
    /// channels) and classes (table rows, minus the null row when class dropout > 0). What shapes cannot tell comes from
    /// <paramref name="hint"/> (e.g. the safetensors metadata): heads and class dropout; without it, heads from the preset
    /// of that width (384 -> 6, 768 -> 12, 1024/1152 -> 16, else 64-dim heads) and dropout 0.1. A hint that contradicts the
    /// tensors is an error.
    /// </summary>
    public static DiTConfig InferConfig(IReadOnlyDictionary<string, Tensor> stateDict, DiTConfig? hint = null)
    {
        long[] ShapeOf(string key, int rank, string layout)
        {
            if (!stateDict.TryGetValue(key, out var t))
                throw new InvalidDataException($"Cannot infer the DiT config: the state dict has no '{key}' (is it a DiT checkpoint? keys: {KeyNames.List(stateDict.Keys)}).");
            if (t.shape.Length != rank || t.shape.Any(d => d < 1 || d > int.MaxValue))
                throw new InvalidDataException($"{key} has shape [{string.Join(", ", t.shape)}]; a DiT's is {layout}.");
            return t.shape;
        }

        var patchWeight = ShapeOf("x_embedder.proj.weight", 4, "(D, C, p, p)");
        if (patchWeight[2] != patchWeight[3])
            throw new InvalidDataException($"x_embedder.proj.weight has shape [{string.Join(", ", patchWeight)}]; a DiT patch embedding is (D, C, p, p).");
        int hidden = (int)patchWeight[0], inChannels = (int)patchWeight[1], patch = (int)patchWeight[2];

        int depth = stateDict.Keys.Select(k => BlockIndex().Match(k)).Where(m => m.Success)
            .Select(m => int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < 100_000 ? i + 1 : 0)
            .DefaultIfEmpty(0).Max();
        if (depth == 0) throw new InvalidDataException("Cannot infer the DiT config: the state dict has no 'blocks.N.*' tensors.");

        var pos = ShapeOf("pos_embed", 3, "(1, T, D)");
        int grid = (int)Math.Round(Math.Sqrt(pos[1]));
        if ((long)grid * grid != pos[1]) throw new InvalidDataException($"pos_embed has {pos[1]} tokens, not a square grid.");

        double mlpRatio = ShapeOf("blocks.0.mlp.fc1.weight", 2, "(D * mlp_ratio, D)")[0] / (double)hidden;
        long finalOut = ShapeOf("final_layer.linear.weight", 2, "(p * p * C_out, D)")[0];
        long outChannels = finalOut / ((long)patch * patch);
        bool learnSigma = outChannels == 2 * inChannels;
        if (finalOut % ((long)patch * patch) != 0 || (!learnSigma && outChannels != inChannels))
            throw new InvalidDataException($"final_layer.linear.weight has {finalOut} outputs; expected {patch}x{patch}x{inChannels} or {patch}x{patch}x{2 * inChannels}.");

        double dropout = hint?.ClassDropoutProb ?? 0.1;
        int rows = (int)ShapeOf("y_embedder.embedding_table.weight", 2, "(classes [+ 1], D)")[0];
        int classes = rows - (dropout > 0 ? 1 : 0);
        int heads = hint?.NumHeads ?? DiTConfig.DefaultHeads(hidden);

        var inferred = new DiTConfig(grid * patch, patch, inChannels, hidden, depth, heads, mlpRatio, dropout, classes, learnSigma);
        if (hint is not null && hint with { MlpRatio = inferred.MlpRatio } != inferred)
            throw new InvalidDataException($"The checkpoint's stored config {hint.ToJson()} contradicts its tensors, which imply {inferred.ToJson()}.");
        try { return inferred.Validated(); }
        catch (ArgumentException e) { throw new InvalidDataException($"The checkpoint's tensors imply an invalid config: {e.Message}", e); }
    }

    [GeneratedRegex(@"^blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();
}
