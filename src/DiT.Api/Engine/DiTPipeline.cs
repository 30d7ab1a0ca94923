using DiT.Diffusion;
using DiT.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Api.Engine;

/// <summary>
/// DiT + guidance + sampler + decoder for one batch, synchronously on the engine thread. Row i draws all its
/// noise from a generator seeded with its own seed, so a seed gives the same image alone or in any batch.
/// </summary>
public sealed class DiTPipeline : IBatchPipeline
{
    readonly DiTModel _model;
    readonly IImageDecoder _decoder;
    readonly Device _device;
    readonly ScalarType _dtype;
    readonly GuidanceMode _guidance;

    public DiTPipeline(DiTModel model, IImageDecoder decoder, Device device, ScalarType dtype, GuidanceMode guidance, ServedModel description)
    {
        _model = model;
        _decoder = decoder;
        _device = device;
        _dtype = dtype;
        _guidance = guidance;
        Model = description;
    }

    public ServedModel Model { get; }

    /// <summary>The same pipeline around new weights (config must keep the image shape and classes); moves them to this device and dtype.</summary>
    public DiTPipeline WithModel(DiTModel model, string fingerprint)
    {
        var (old, now) = (_model.Config, model.Config);
        if (now.InputSize != old.InputSize || now.InChannels != old.InChannels || now.NumClasses != old.NumClasses)
            throw new ArgumentException($"The new model {now.ToJson()} must keep the served model's input size, channels and classes ({old.ToJson()}).");
        model.to(_dtype).to(_device);
        model.eval();
        return new DiTPipeline(model, _decoder, _device, _dtype, _guidance, Model with
        {
            Config = System.Text.Json.Nodes.JsonNode.Parse(now.ToJson())!.AsObject(),
            Parameters = now.ParameterCount(),
            Gflops = now.Gflops(),
            Fingerprint = fingerprint,
            Source = "swapped in",
            IsUntrainedDefault = false,
        });
    }

    public IReadOnlyList<RawImage> Run(IReadOnlyList<GenerationRequest> batch, CancellationToken ct, Action<int, int>? onStep)
    {
        var config = _model.Config;
        int n = batch.Count, size = config.InputSize;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generators = Sampling.Generators(batch.Select(r => r.Seed));
        var noise = Sampling.PerSampleNoise(generators, empty([n, config.InChannels, size, size], _dtype, _device));
        var classes = tensor(batch.Select(r => (long)r.ClassId).ToArray(), ScalarType.Int64, _device);
        var scales = tensor(batch.Select(r => (float)r.GuidanceScale).ToArray(), ScalarType.Float32, _device);
        var model = ClassifierFreeGuidance.Wrap(_model.forward, classes, scales, config.NumClasses, config.InChannels, _guidance);
        var settings = new SamplerSettings(KindOf(batch[0].Sampler), batch[0].Steps);
        Tensor latents;
        using (Telemetry.DiTTelemetry.Source.StartActivity("dit.denoise"))
            latents = Sampling.Sample(model, noise, settings, generators, ct, onStep, new DiffusionOptions(LearnSigma: config.LearnSigma));
        using (Telemetry.DiTTelemetry.Source.StartActivity("dit.decode"))
            return _decoder.DecodeToBytes(latents);
    }

    static SamplerKind KindOf(Sampler sampler) => sampler switch
    {
        Sampler.Ddpm => SamplerKind.Ddpm,
        Sampler.Ddim => SamplerKind.Ddim,
        Sampler.DpmPP2M => SamplerKind.DpmSolverPP2M,
        _ => throw new ArgumentOutOfRangeException(nameof(sampler), sampler, "Unknown sampler."),
    };

    public void Dispose()
    {
        _model.Dispose();
        _decoder.Dispose();
    }
}
