using System.Text.Json;
using DiT.Model;
using DiT.Model.Checkpoints;
using static TorchSharp.torch;

namespace DiT.Training.Checkpoints;

/// <summary>
/// One safetensors file per checkpoint: "model.&lt;key&gt;" (trained weights), "ema.&lt;key&gt;" (EMA weights: what is served),
/// "opt.&lt;param&gt;.exp_avg|exp_avg_sq|step" (AdamW state); metadata "format", "step", "config" (DiTConfig JSON),
/// "classes" (JSON array of names), "options" (TrainingOptions JSON).
/// </summary>
public sealed record TrainingCheckpointFile(
    string Path, long Step, DiTConfig Config, IReadOnlyList<string> Classes, TrainingOptions? Options,
    Dictionary<string, Tensor> Model, Dictionary<string, Tensor> Ema, Dictionary<string, Tensor> Optimizer) : IDisposable
{
    public const string Format = "dit-training/1";
    public const string ModelPrefix = "model.", EmaPrefix = "ema.", OptimizerPrefix = "opt.";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static bool IsTrainingCheckpoint(string path)
        => Safetensors.ReadHeader(path).Metadata.TryGetValue("format", out var f) && f == Format;

    public static void Save(string path, long step, DiTConfig config, IReadOnlyList<string> classes, TrainingOptions options,
        IReadOnlyDictionary<string, Tensor> model, IReadOnlyDictionary<string, Tensor> ema, IReadOnlyDictionary<string, Tensor> optimizer)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in model) tensors[ModelPrefix + k] = v;
        foreach (var (k, v) in ema) tensors[EmaPrefix + k] = v;
        foreach (var (k, v) in optimizer) tensors[OptimizerPrefix + k] = v;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Safetensors.Save(path, tensors, new Dictionary<string, string>
        {
            ["format"] = Format,
            ["step"] = step.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["config"] = config.ToJson(),
            ["classes"] = JsonSerializer.Serialize(classes, Json),
            ["options"] = JsonSerializer.Serialize(options, Json),
        });
    }

    /// <summary>Reads every part of a checkpoint written by <see cref="Save"/>; throws InvalidDataException naming the file otherwise.</summary>
    public static TrainingCheckpointFile Read(string path)
    {
        var metadata = Safetensors.ReadHeader(path).Metadata;
        if (!metadata.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"{path}: not a training checkpoint (metadata 'format' should be '{Format}'); use --init for plain model weights.");
        string Meta(string key) => metadata.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}: metadata '{key}' is missing.");
        var all = Safetensors.Load(path);
        Dictionary<string, Tensor> Part(string prefix) => all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        return new TrainingCheckpointFile(path, long.Parse(Meta("step"), System.Globalization.CultureInfo.InvariantCulture),
            DiTConfig.FromJson(Meta("config")),
            JsonSerializer.Deserialize<string[]>(Meta("classes"), Json) ?? [],
            metadata.TryGetValue("options", out var o) ? JsonSerializer.Deserialize<TrainingOptions>(o, Json) : null,
            Part(ModelPrefix), Part(EmaPrefix), Part(OptimizerPrefix));
    }

    public void Dispose()
    {
        foreach (var t in Model.Values.Concat(Ema.Values).Concat(Optimizer.Values)) t.Dispose();
    }
}
