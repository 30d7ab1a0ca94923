using System.Globalization;
using System.Text.Json;
using DiT.Model;
using DiT.Model.Checkpoints;
using static TorchSharp.torch;

namespace DiT.Training.Vae;

/// <summary>
/// One safetensors file per VAE training checkpoint: "model.&lt;key&gt;" (diffusers AutoencoderKL keys),
/// "opt.&lt;param&gt;.exp_avg|exp_avg_sq|step" (AdamW state); metadata "format", "step", "config" (the diffusers
/// config.json), "options" (<see cref="VaeTrainingOptions"/> JSON).
/// </summary>
public sealed record VaeTrainingCheckpoint(
    string Path, long Step, AutoencoderKLConfig Config, VaeTrainingOptions Options,
    Dictionary<string, Tensor> Model, Dictionary<string, Tensor> Optimizer) : IDisposable
{
    public const string Format = "dit-vae-training/1";
    const string ModelPrefix = "model.", OptimizerPrefix = "opt.";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Save(string path, long step, AutoencoderKLConfig config, VaeTrainingOptions options,
        IReadOnlyDictionary<string, Tensor> model, IReadOnlyDictionary<string, Tensor> optimizer)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in model) tensors[ModelPrefix + k] = v;
        foreach (var (k, v) in optimizer) tensors[OptimizerPrefix + k] = v;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Safetensors.Save(path, tensors, new Dictionary<string, string>
        {
            ["format"] = Format,
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["config"] = config.ToJson(),
            ["options"] = JsonSerializer.Serialize(options, Json),
        });
    }

    /// <summary>Reads every part of a checkpoint written by <see cref="Save"/>; throws InvalidDataException naming the file otherwise.</summary>
    public static VaeTrainingCheckpoint Read(string path)
    {
        var metadata = Safetensors.ReadHeader(path).Metadata;
        if (!metadata.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"{path}: not a VAE training checkpoint (metadata 'format' should be '{Format}').");
        string Meta(string key) => metadata.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}: metadata '{key}' is missing.");
        var options = JsonSerializer.Deserialize<VaeTrainingOptions>(Meta("options"), Json)
            ?? throw new InvalidDataException($"{path}: metadata 'options' is empty.");
        var config = AutoencoderKLConfig.FromJson(Meta("config"), $"{path} (config metadata)");
        var all = Safetensors.Load(path);
        Dictionary<string, Tensor> Part(string prefix) => all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        return new VaeTrainingCheckpoint(path, long.Parse(Meta("step"), CultureInfo.InvariantCulture), config, options,
            Part(ModelPrefix), Part(OptimizerPrefix));
    }

    public void Dispose()
    {
        foreach (var t in Model.Values.Concat(Optimizer.Values)) t.Dispose();
    }
}
