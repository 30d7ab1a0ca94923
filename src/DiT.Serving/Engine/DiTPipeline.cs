using DiT.Diffusion;
using DiT.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Serving.Engine;

/// <summary>
/// DiT + guidance + sampler + decoder, as running batches, synchronously on the engine thread. Row i draws all its
/// noise from a generator seeded with its own seed, so a seed gives the same image alone or in any batch.
/// </summary>
public sealed class DiTPipeline : IBatchPipeline
{
    readonly DiTModel _model;
    readonly IAutoencoder _autoencoder;
    readonly Device _device;
    readonly ScalarType _dtype;
    readonly GuidanceMode _guidance;
    bool _ownsAutoencoder = true;

    public DiTPipeline(DiTModel model, IAutoencoder autoencoder, Device device, ScalarType dtype, GuidanceMode guidance, ServedModel description)
    {
        _model = model;
        _autoencoder = autoencoder;
        _device = device;
        _dtype = dtype;
        _guidance = guidance;
        Model = description;
    }

    public ServedModel Model { get; }

    /// <summary>The same pipeline around new weights (config must keep the image shape and classes); moves them to this device and dtype.</summary>
    public IBatchPipeline WithModel(DiTModel model, string fingerprint)
    {
        var (old, now) = (_model.Config, model.Config);
        if (now.InputSize != old.InputSize || now.InChannels != old.InChannels || now.NumClasses != old.NumClasses)
            throw new ArgumentException($"The new model {now.ToJson()} must keep the served model's input size, channels and classes ({old.ToJson()}).");
        model.to(_dtype).to(_device);
        model.eval();
        _ownsAutoencoder = false;
        return new DiTPipeline(model, _autoencoder, _device, _dtype, _guidance, Model with
        {
            Config = System.Text.Json.Nodes.JsonNode.Parse(now.ToJson())!.AsObject(),
            Parameters = now.ParameterCount(),
            Gflops = now.Gflops(),
            Fingerprint = fingerprint,
            Source = "swapped in",
            IsUntrainedDefault = false,
        });
    }

    public RunningBatch StartRunningBatch(SamplerKind sampler, int steps) =>
        new(_model, _autoencoder, new Sampler(new SamplerSettings(sampler, steps), Diffusion(_model.Config)), _guidance, _device, _dtype);

    IRunningBatch IBatchPipeline.StartRunningBatch(SamplerKind sampler, int steps) => StartRunningBatch(sampler, steps);

    /// <summary>The diffusion process the served model was trained with (DiT's defaults; learned sigma per its config).</summary>
    static DiffusionOptions Diffusion(DiTConfig config) => new(LearnSigma: config.LearnSigma);

    public void Dispose()
    {
        _model.Dispose();
        if (_ownsAutoencoder) _autoencoder.Dispose();
    }
}
