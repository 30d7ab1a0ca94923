using System.Security.Cryptography;
using System.Text.Json.Nodes;
using DiT.Diffusion;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Model.IO;
using DiT.Serving.Classes;
using DiT.Serving.Options;
using DiT.Serving.Startup;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Serving.Engine;

/// <summary>Builds the served pipeline from the Model and Engine options (on the engine thread). A file that cannot be
/// served fails with a <see cref="SettingException"/> naming the setting, the file and what is wrong.</summary>
public sealed class PipelineLoader(IOptions<ModelOptions> modelOptions, IOptions<EngineOptions> engineOptions) : IPipelineLoader
{
    public IBatchPipeline Load()
    {
        var options = modelOptions.Value;
        if (engineOptions.Value.TorchThreads > 0) set_num_threads(engineOptions.Value.TorchThreads);
        Nnpack.Disable();
        var device = ResolveDevice(options.Device);
        var dtype = ParseDtype(options.Dtype);
        if (device.type == DeviceType.CUDA)
        {
            // float32 matmuls and convolutions on tensor cores (TF32, Ampere and later); process-wide, as in PyTorch.
            backends.cuda.matmul.allow_tf32 = options.AllowTf32;
            backends.cudnn.allow_tf32 = options.AllowTf32;
        }
        var guidance = engineOptions.Value.Guidance;

        DiTModel model;
        string name, source, fingerprint;
        if (options.UsesDefaultModel)
        {
            model = DefaultModel.Create();
            model.to(dtype).to(device);
            (name, source, fingerprint) = (DefaultModel.Name, "built-in (no Model:CheckpointPath)", DefaultModel.Fingerprint);
        }
        else
        {
            var path = Path.GetFullPath(options.CheckpointPath!);
            model = SettingException.Wrap("Model:CheckpointPath", path, () => DiTCheckpoint.Load(path, device, dtype));
            (name, source, fingerprint) = (Path.GetFileName(path), path, FileFingerprint(path));
        }

        IAutoencoder autoencoder;
        string autoencoderName;
        if (options.IsPixelSpace)
            (autoencoder, autoencoderName) = (new PixelSpaceAutoencoder(model.Config.InChannels), "none (pixel space)");
        else
        {
            var vaePath = Path.GetFullPath(options.VaePath);
            var vae = SettingException.Wrap("Model:VaePath", vaePath, () => AutoencoderKL.Load(vaePath, device, dtype));
            // One image per decoder pass: libtorch's conv kernels depend on the batch size, so a batched decode moves low
            // bits, and a seed's PNG would depend on what it was batched with (LatentModelTests).
            vae.SliceSize = 1;
            autoencoder = vae;
            autoencoderName = $"AutoencoderKL {ServedModel.FileNameOf(vaePath)}";
            fingerprint = $"{fingerprint}-{PathFingerprint(vaePath)[..8]}";
        }
        if (autoencoder.LatentChannels != model.Config.InChannels)
            throw new SettingException("Model:VaePath", options.VaePath, new InvalidDataException(
                $"the autoencoder makes {autoencoder.LatentChannels}-channel latents; the DiT of Model:CheckpointPath expects {model.Config.InChannels}."));

        var config = model.Config;
        var classes = SettingException.Wrap("Model:ClassesPath", string.IsNullOrWhiteSpace(options.ClassesPath) ? "classes.txt beside the checkpoint" : options.ClassesPath,
            () => ClassCatalog.ForModel(config.NumClasses, options.ClassesPath, options.UsesDefaultModel ? null : options.CheckpointPath, options.UsesDefaultModel));
        int side = config.InputSize * autoencoder.DownsampleFactor;
        var description = new ServedModel(name, JsonNode.Parse(config.ToJson())!.AsObject(), config.ParameterCount(), config.Gflops(),
            device.ToString(), options.Dtype, fingerprint, source, options.UsesDefaultModel, autoencoderName,
            side, side, autoencoder.ImageChannels, config.ClassDropoutProb > 0, classes);
        return new DiTPipeline(model, autoencoder, device, dtype, guidance, description);
    }

    public static Device ResolveDevice(string name) =>
        name.Equals("auto", StringComparison.OrdinalIgnoreCase) ? (cuda.is_available() ? CUDA : CPU) : torch.device(name);

    public static ScalarType ParseDtype(string name) => name.ToLowerInvariant() switch
    {
        "float32" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"Unknown dtype '{name}': allowed float32, bfloat16, float16."),
    };

    /// <summary>First 16 hex digits of the file's SHA-256: names the weights in /model and in cache keys.</summary>
    public static string FileFingerprint(string path)
    {
        using var stream = RegularFile.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
    }

    /// <summary>A file's fingerprint, or for a folder (a diffusers VAE) that of its files' names, sizes and times.</summary>
    static string PathFingerprint(string path)
    {
        if (File.Exists(path)) return FileFingerprint(path);
        var listing = string.Join("\n", Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order()
            .Select(f => new FileInfo(f)).Select(f => $"{f.FullName}|{f.Length}|{f.LastWriteTimeUtc:O}"));
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(listing)))[..16];
    }
}
