using System.Text.RegularExpressions;
using DiT.Model.Checkpoints;
using DiT.Model.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>Loading published diffusers VAE checkpoints (hub folder or single safetensors file).</summary>
public sealed partial class AutoencoderKL
{
    const string ConfigFile = "config.json";
    static readonly string[] WeightFiles = ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"];

    /// <summary>
    /// Loads a VAE from a folder laid out as on the hub (<c>config.json</c> + <c>diffusion_pytorch_model[.fp16].safetensors</c>,
    /// or a pipeline folder with them under <c>vae/</c>), or from one safetensors file whose <c>config</c> metadata
    /// (or a <c>config.json</c> beside it) describes the architecture. Weights of any float dtype are converted to
    /// <paramref name="dtype"/> (default float32) on <paramref name="device"/> (default CPU); the module is in eval mode.
    /// </summary>
    public static AutoencoderKL Load(string pathOrFolder, Device? device = null, ScalarType? dtype = null)
    {
        var (weightsPath, configPath) = Locate(pathOrFolder);
        var config = ReadConfig(weightsPath, configPath, metadataFirst: File.Exists(pathOrFolder));
        var model = new AutoencoderKL(config);
        try
        {
            var tensors = Safetensors.Load(weightsPath);
            try { model.LoadStateDict(tensors, weightsPath); }
            finally { StateDicts.DisposeAll(tensors.Values); }
            model.eval();
            if (dtype is { } type) model.to(type);
            if (device is not null) model.to(device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes this VAE in the hub layout <see cref="Load"/> and diffusers read: <c>config.json</c> (this module's config,
    /// with <paramref name="scalingFactor"/> when given) and <c>diffusion_pytorch_model.safetensors</c> in
    /// <paramref name="dtype"/> (default float16: half the bytes; Load converts back to float32). Each file is written atomically.
    /// </summary>
    public void SaveHubFolder(string folder, ScalarType dtype = ScalarType.Float16, double? scalingFactor = null)
    {
        var config = scalingFactor is { } s ? Config with { ScalingFactor = s } : Config;
        config.Validate("AutoencoderKL config");
        Directory.CreateDirectory(folder);
        using (var scope = NewDisposeScope())
        {
            var tensors = state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(dtype, CPU));
            Safetensors.Save(Path.Combine(folder, WeightFiles[0]), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        var configPath = Path.Combine(folder, ConfigFile);
        var temp = configPath + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(temp, config.ToJson());
        File.Move(temp, configPath, overwrite: true);
    }

    /// <summary>
    /// Copies a state dict with diffusers key names into this module, accepting the legacy mid-block attention names
    /// (query/key/value/proj_attn); a <see cref="CheckpointMismatchException"/> names every missing, unexpected and wrong-shaped key. Does not take ownership.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict, string source)
    {
        if (stateDict.Keys.Any(k => k.StartsWith("encoder.mid.", StringComparison.Ordinal) || k.StartsWith("first_stage_model.", StringComparison.Ordinal)))
            throw new InvalidDataException(
                $"{source} uses the original CompVis/ldm VAE layout (encoder.mid.attn_1, first_stage_model.*); " +
                "convert it to the diffusers layout first (diffusers' convert_vae_pt_to_diffusers.py) or use the hub's diffusers files.");
        var renamed = new Dictionary<string, Tensor>();
        foreach (var (key, tensor) in stateDict)
        {
            var current = CurrentKeyName(key);
            if (!renamed.TryAdd(current, tensor))
                throw new InvalidDataException($"{source} holds '{current}' under both its current and its legacy name.");
        }
        StateDicts.CopyStrict(this, renamed, source);
    }

    /// <summary>
    /// Maps a legacy mid-block attention key (diffusers before its 2023 attention refactor, e.g.
    /// <c>decoder.mid_block.attentions.0.proj_attn.weight</c>) to its current name (<c>...to_out.0.weight</c>); other keys pass unchanged.
    /// </summary>
    public static string CurrentKeyName(string key)
    {
        var match = LegacyAttentionKey().Match(key);
        if (!match.Success) return key;
        var current = match.Groups["name"].Value switch
        {
            "query" => "to_q",
            "key" => "to_k",
            "value" => "to_v",
            _ => "to_out.0",
        };
        return $"{match.Groups["prefix"].Value}{current}.{match.Groups["param"].Value}";
    }

    [GeneratedRegex(@"^(?<prefix>(encoder|decoder)\.mid_block\.attentions\.\d+\.)(?<name>query|key|value|proj_attn)\.(?<param>weight|bias)$")]
    private static partial Regex LegacyAttentionKey();

    static (string Weights, string? Config) Locate(string pathOrFolder)
    {
        if (File.Exists(pathOrFolder))
        {
            var beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(pathOrFolder))!, ConfigFile);
            return (pathOrFolder, File.Exists(beside) ? beside : null);
        }
        if (!Directory.Exists(pathOrFolder))
            throw new FileNotFoundException($"VAE not found: '{pathOrFolder}' is neither a safetensors file nor a folder.", pathOrFolder);

        var folder = pathOrFolder;
        var vaeSub = Path.Combine(folder, "vae");
        if (!WeightFiles.Any(f => File.Exists(Path.Combine(folder, f))) && Directory.Exists(vaeSub)) folder = vaeSub;
        var weights = WeightFiles.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"No VAE weights in '{pathOrFolder}': expected {string.Join(" or ", WeightFiles)} (directly or under vae/).");
        var config = Path.Combine(folder, ConfigFile);
        return (weights, File.Exists(config) ? config : null);
    }

    /// <summary>
    /// A hub folder's config.json is what diffusers reads, so it wins there; a lone file's own "config" metadata wins
    /// over a config.json that merely sits in the same folder.
    /// </summary>
    static AutoencoderKLConfig ReadConfig(string weightsPath, string? configPath, bool metadataFirst)
    {
        var metadata = Safetensors.ReadHeader(weightsPath).Metadata;
        metadata.TryGetValue("config", out var json);
        if (json is not null && (metadataFirst || configPath is null))
            return AutoencoderKLConfig.FromJson(json, $"{weightsPath} (config metadata)");
        if (configPath is not null)
        {
            using var reader = new StreamReader(RegularFile.OpenRead(configPath));
            return AutoencoderKLConfig.FromJson(reader.ReadToEnd(), configPath);
        }
        throw new InvalidDataException(
            $"{weightsPath} has no architecture config: put the diffusers {ConfigFile} beside it or store it as the file's \"config\" metadata.");
    }
}
