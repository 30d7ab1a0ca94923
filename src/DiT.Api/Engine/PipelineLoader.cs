using System.Security.Cryptography;
using System.Text.Json.Nodes;
using DiT.Api.Classes;
using DiT.Api.Options;
using DiT.Diffusion;
using DiT.Model;
using DiT.Model.Checkpoints;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Api.Engine;

/// <summary>Builds the served pipeline from the Model and Engine options (on the engine thread).</summary>
public sealed class PipelineLoader(IOptions<ModelOptions> modelOptions, IOptions<EngineOptions> engineOptions) : IPipelineLoader
{
    public IBatchPipeline Load()
    {
        var options = modelOptions.Value;
        var device = ResolveDevice(options.Device);
        var dtype = ParseDtype(options.Dtype);
        var guidance = engineOptions.Value.GuidanceMode.Equals("full", StringComparison.OrdinalIgnoreCase)
            ? GuidanceMode.AllChannels : GuidanceMode.Reference;

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
            model = DiTCheckpoint.Load(path, device, dtype);
            (name, source, fingerprint) = (Path.GetFileName(path), path, FileFingerprint(path));
        }

        if (!options.IsPixelSpace)
            throw new NotSupportedException("Latent-space models need the autoencoder, which this build does not include yet; set Model:VaePath to \"none\".");
        IImageDecoder decoder = new PixelSpaceDecoder(model.Config.InChannels);

        var config = model.Config;
        var classes = ClassCatalog.ForModel(config.NumClasses, options.ClassesPath,
            options.UsesDefaultModel ? null : options.CheckpointPath, options.UsesDefaultModel);
        int side = config.InputSize * decoder.DownsampleFactor;
        var description = new ServedModel(name, JsonNode.Parse(config.ToJson())!.AsObject(), config.ParameterCount(), config.Gflops(),
            device.ToString(), options.Dtype, fingerprint, source, options.UsesDefaultModel, decoder.Name,
            side, side, decoder.ImageChannels, config.ClassDropoutProb > 0, classes);
        return new DiTPipeline(model, decoder, device, dtype, guidance, description);
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
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
    }
}
