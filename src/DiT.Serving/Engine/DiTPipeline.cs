using DiT.Diffusion;
using DiT.Model;
using DiT.Model.StepCaching;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Serving.Engine;

/// <summary>
/// DiT + guidance + sampler + decoder for one batch, synchronously on the engine thread. Row i draws all its
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

    public IReadOnlyList<RawImage> Run(IReadOnlyList<GenerationRequest> batch, CancellationToken ct, Action<int, int>? onStep)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var generators = Sampling.Generators(batch.Select(r => r.Seed));
        try { return Sample(batch, generators, ct, onStep); }
        finally { foreach (var generator in generators) generator.Dispose(); }
    }

    IReadOnlyList<RawImage> Sample(IReadOnlyList<GenerationRequest> batch, Generator[] generators, CancellationToken ct, Action<int, int>? onStep)
    {
        var config = _model.Config;
        int n = batch.Count, size = config.InputSize;
        var noise = Sampling.PerSampleNoise(generators, empty([n, config.InChannels, size, size], _dtype, _device));
        var classes = tensor(batch.Select(r => (long)r.ClassId).ToArray(), ScalarType.Int64, _device);
        var scales = tensor(batch.Select(r => (float)r.GuidanceScale).ToArray(), ScalarType.Float32, _device);
        var diffusion = Diffusion(config);
        var caches = batch.Select(r => new RowStepCache(r.Cache)).ToArray();
        try
        {
            var model = Guided(_model, classes, scales, _guidance, batch, caches, diffusion);
            var settings = new SamplerSettings(batch[0].Sampler, batch[0].Steps);
            Tensor latents;
            using (Telemetry.DiTTelemetry.Source.StartActivity("dit.denoise"))
                latents = Sampling.Sample(model, noise, settings, generators, ct, onStep, diffusion);
            return Decode(_autoencoder, latents).Select((image, i) => image with { Passes = caches[i].Passes }).ToArray();
        }
        finally { foreach (var cache in caches) cache.Dispose(); }
    }

    public IRunningBatch StartRunningBatch(SamplerKind sampler, int steps) =>
        new RunningBatch(_model, _autoencoder, new Sampler(new SamplerSettings(sampler, steps), Diffusion(_model.Config)),
            _guidance, _device, _dtype);

    /// <summary>The diffusion process the served model was trained with (DiT's defaults; learned sigma per its config).</summary>
    static DiffusionOptions Diffusion(DiTConfig config) => new(LearnSigma: config.LearnSigma);

    /// <summary>The model under classifier-free guidance with the requests' classes, scales, guidance intervals and step
    /// caches, row by row (all must outlive it); each branch of each row runs with its own cache slot.</summary>
    internal static Denoiser Guided(DiTModel model, Tensor classes, Tensor scales, GuidanceMode guidance,
        IEnumerable<GenerationRequest> rows, IReadOnlyList<RowStepCache> caches, DiffusionOptions diffusion) =>
        ClassifierFreeGuidance.Wrap((x, t, y, layout) => model.Forward(x, t, y, RowStepCache.SlotsOf(caches, layout.UnconditionalOf)),
            classes, scales, model.Config.NumClasses, model.Config.InChannels, guidance,
            new GuidanceIntervals(rows.Select(r => r.GuidanceInterval), diffusion));

    /// <summary>Latents (N, C, h, w) to one 8-bit image per row (AutoencoderKL decodes in slices of its SliceSize rows).</summary>
    internal static RawImage[] Decode(IAutoencoder autoencoder, Tensor latents)
    {
        using var span = Telemetry.DiTTelemetry.Source.StartActivity("dit.decode");
        using var scope = NewDisposeScope();
        var images = autoencoder.DecodeLatents(latents);                               // (N, C, H, W) in [-1, 1]
        int channels = (int)images.shape[1], height = (int)images.shape[2], width = (int)images.shape[3];
        return ImageTensors.ToImageBytes(images).Select(bytes => new RawImage(bytes, width, height, channels)).ToArray();
    }

    public void Dispose()
    {
        _model.Dispose();
        if (_ownsAutoencoder) _autoencoder.Dispose();
    }
}
