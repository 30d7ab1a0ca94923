using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Training.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiT.Training.Vae;

/// <summary>
/// The hyper-parameters of one VAE training run. The loss is Stable Diffusion's autoencoder loss without its LPIPS and
/// GAN terms, per pixel: mean |x - x'| (or mean (x - x')^2) + <see cref="KlWeight"/> * KL / (C*H*W), where KL is the
/// posterior's divergence from N(0, I) summed over one image's latent; i.e. SD's sum-over-pixels loss divided by the
/// pixel count, so <see cref="KlWeight"/> means what SD's kl_weight (1e-6) means.
/// </summary>
public sealed record VaeTrainingOptions
{
    public int Steps { get; init; } = 10_000;
    public int BatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 1e-3;
    public double KlWeight { get; init; } = 1e-6;
    /// <summary>"l1" (SD) or "mse".</summary>
    public string Loss { get; init; } = "l1";
    public int CheckpointEvery { get; init; } = 500;
    /// <summary>Side of the square training images (Fashion-MNIST's 28 is padded to it, see ImagePreprocessing).</summary>
    public int ImageSize { get; init; } = 32;
    public long Seed { get; init; }

    /// <summary>Every out-of-range field, keyed by its JSON name; empty when usable.</summary>
    public Dictionary<string, string[]> Validate()
    {
        var errors = new Dictionary<string, string[]>();
        void Check(bool ok, string field, string message) { if (!ok) errors[field] = [message]; }
        Check(Steps is > 0 and <= TrainingOptions.MaxSteps, "steps", $"steps must be between 1 and {TrainingOptions.MaxSteps:N0}; got {Steps}.");
        Check(BatchSize is > 0 and <= TrainingOptions.MaxBatchSize, "batchSize", $"batchSize must be between 1 and {TrainingOptions.MaxBatchSize}; got {BatchSize}.");
        Check(LearningRate is > 0 and <= 1 && double.IsFinite(LearningRate), "learningRate", $"learningRate must be in (0, 1]; got {LearningRate}.");
        Check(KlWeight >= 0 && double.IsFinite(KlWeight), "klWeight", $"klWeight must be 0 or more; got {KlWeight}.");
        Check(Loss is "l1" or "mse", "loss", $"loss must be l1 or mse; got '{Loss}'.");
        Check(CheckpointEvery is > 0 and <= TrainingOptions.MaxSteps, "checkpointEvery", $"checkpointEvery must be between 1 and {TrainingOptions.MaxSteps:N0}; got {CheckpointEvery}.");
        Check(ImageSize is > 0 and <= TrainingOptions.MaxImageSize, "imageSize", $"imageSize must be between 1 and {TrainingOptions.MaxImageSize}; got {ImageSize}.");
        Check(Seed >= 0, "seed", $"seed must be 0 or more; got {Seed}.");
        return errors;
    }
}

/// <summary>One step's losses: the total that is minimised, its reconstruction part (per pixel) and the KL per image.</summary>
public sealed record VaeStepLoss(double Loss, double Reconstruction, double Kl);

/// <summary>
/// One diffusers <see cref="AutoencoderKL"/> being trained on in-memory images with AdamW (betas 0.9/0.999, no weight
/// decay): encode, sample the posterior, decode, reconstruction + KL loss (see <see cref="VaeTrainingOptions"/>), random
/// horizontal flips. Every random draw of step k (batch rows, flips, posterior noise) comes from a generator seeded with
/// (seed, k), so a run is reproducible and a resumed run continues exactly as the uninterrupted one would. Owns the
/// model, not the images. Not thread-safe (TorchSharp dispose scopes are thread-static).
/// </summary>
public sealed class VaeTrainer : IDisposable
{
    readonly Tensor _images;
    readonly List<(string name, Parameter parameter)> _trainable;
    readonly Generator _generator = new(0);
    readonly Device _device;

    /// <param name="images">(N, C, S, S) in [-1, 1] on the model's device; the caller keeps ownership.</param>
    public VaeTrainer(AutoencoderKL model, Tensor images, VaeTrainingOptions options)
    {
        (Model, _images, Options) = (model, images, options);
        _device = model.parameters().First().device;
        if (images.dim() != 4 || images.shape[1] != model.Config.InChannels || images.shape[2] != options.ImageSize || images.shape[3] != options.ImageSize)
            throw new ArgumentException($"Expected images shaped (N, {model.Config.InChannels}, {options.ImageSize}, {options.ImageSize}); got [{string.Join(", ", images.shape)}].", nameof(images));
        if (options.ImageSize % model.DownsampleFactor != 0)
            throw new ArgumentException($"Image size {options.ImageSize} is not a multiple of the VAE's downsampling {model.DownsampleFactor}.");
        Model.train();                                   // AutoencoderKL has no dropout or batch norm: train/eval compute the same
        Model.SliceSize = Math.Max(1, options.BatchSize); // one encoder/decoder pass per batch
        _trainable = Model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Optimizer = new AdamWOptimizer(_trainable.Select(p => p.parameter), options.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0);
    }

    public AutoencoderKL Model { get; }
    public AdamWOptimizer Optimizer { get; }
    public VaeTrainingOptions Options { get; }
    /// <summary>Optimizer steps taken so far (restored by <see cref="Restore"/>).</summary>
    public long Step { get; private set; }

    /// <summary>
    /// A new VAE with PyTorch's default initialisation (conv and linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    /// i.e. kaiming_uniform with a = sqrt(5); group norms 1 and 0), drawn from <paramref name="generator"/>.
    /// </summary>
    public static AutoencoderKL Create(AutoencoderKLConfig config, Generator generator)
    {
        var model = new AutoencoderKL(config);
        foreach (var (_, module) in model.named_modules())
        {
            (Parameter? weight, Parameter? bias) = module switch
            {
                Conv2d conv => (conv.weight, conv.bias),
                Linear linear => (linear.weight, linear.bias),
                _ => (null, null),
            };
            if (weight is null) continue;
            double bound = 1 / Math.Sqrt(weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b));
            SeededInit.Uniform(weight, -bound, bound, generator);
            if (bias is not null) SeededInit.Uniform(bias, -bound, bound, generator);
        }
        return model;
    }

    /// <summary>Continues from a checkpoint: weights, AdamW moments and step counts, the step number.</summary>
    public void Restore(VaeTrainingCheckpoint checkpoint)
    {
        StateDicts.CopyStrict(Model, checkpoint.Model, $"{checkpoint.Path} (model.*)");
        AdamWState.Import(Optimizer, _trainable, checkpoint.Optimizer, checkpoint.Path);
        Step = checkpoint.Step;
    }

    /// <summary>One optimizer step on a random batch (rows, flips and posterior noise from the step's generator).</summary>
    public VaeStepLoss TrainStep()
    {
        TorchThreads.ApplyToThisThread();   // the training thread computes with the run's thread count
        using var scope = NewDisposeScope();
        _generator.manual_seed(unchecked((long)((ulong)Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)Step)));
        long b = Options.BatchSize;
        var rows = randint(0, _images.shape[0], [b], generator: _generator).to(_device);         // (B)
        var x = _images.index_select(0, rows);                                                   // (B, C, S, S)
        var flip = rand([b, 1, 1, 1], generator: _generator).LessThan(0.5).to(_device);           // (B, 1, 1, 1) bool
        x = where(flip, x.flip(3), x);                                                           // random horizontal flip
        long side = Options.ImageSize / Model.DownsampleFactor;
        var noise = randn([b, Model.LatentChannels, side, side], generator: _generator).to(_device);  // (B, C_lat, h, w)
        var (loss, reconstruction, kl) = Losses(x, noise);
        Optimizer.ZeroGrad();
        loss.backward();
        Optimizer.Step();
        Step++;
        return new VaeStepLoss(loss.item<float>(), reconstruction.item<float>(), kl.item<float>());
    }

    /// <summary>
    /// The loss on <paramref name="x"/> (N, C, S, S) with the posterior sampled with <paramref name="noise"/> (N, C_lat, h, w):
    /// (total, reconstruction per pixel, KL per image), each a scalar tensor with the caller's autograd mode.
    /// </summary>
    public (Tensor Loss, Tensor Reconstruction, Tensor Kl) Losses(Tensor x, Tensor noise)
    {
        using var scope = NewDisposeScope();
        using var posterior = Model.Encode(x);
        var z = posterior.Sample(noise);                                                         // (N, C_lat, h, w)
        var diff = Model.Decode(z) - x;                                                          // (N, C, S, S)
        var reconstruction = (Options.Loss == "mse" ? diff * diff : diff.abs()).mean();           // per pixel
        // KL(N(mean, var) || N(0, 1)) summed over the latent, mean over images (diffusers DiagonalGaussianDistribution.kl)
        var kl = (posterior.Mean * posterior.Mean).Plus(posterior.Var).Minus(1.0) - posterior.LogVar;  // (N, C_lat, h, w)
        var klPerImage = kl.sum([1, 2, 3]).mean().Times(0.5);
        long pixels = x.shape[1] * x.shape[2] * x.shape[3];
        var loss = reconstruction.Plus(klPerImage.Times(Options.KlWeight / pixels));
        return (loss.MoveToOuterDisposeScope(), reconstruction.MoveToOuterDisposeScope(), klPerImage.MoveToOuterDisposeScope());
    }

    /// <summary>Writes the full training state (see <see cref="VaeTrainingCheckpoint"/>) atomically.</summary>
    public void Save(string path)
    {
        using var scope = NewDisposeScope();
        VaeTrainingCheckpoint.Save(path, Step, Model.Config, Options, Model.state_dict(), AdamWState.Export(Optimizer, _trainable));
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
        _generator.Dispose();
    }
}
