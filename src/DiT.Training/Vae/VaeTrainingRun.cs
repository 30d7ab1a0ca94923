using DiT.Model;
using DiT.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training.Vae;

/// <summary>What one VAE training run needs (`dit train-vae`).</summary>
public sealed record VaeTrainingRequest
{
    public required IImageDataset Data { get; init; }
    /// <summary>The architecture of a new run (in_channels = out_channels = the images' channels); a resumed run keeps its own.</summary>
    public required AutoencoderKLConfig Config { get; init; }
    /// <summary>A VAE training checkpoint to continue from (weights, optimizer state, step, recipe).</summary>
    public string? ResumeFrom { get; init; }
    public required VaeTrainingOptions Options { get; init; }
    /// <summary>Checkpoints go to &lt;OutputDirectory&gt;/checkpoints, the exported hub folder to &lt;OutputDirectory&gt;/vae.</summary>
    public required string OutputDirectory { get; init; }
    public Device Device { get; init; } = CPU;
    /// <summary>Training images the scaling factor is measured on (the first ones of the data set).</summary>
    public int ScalingImages { get; init; } = 2000;
}

/// <summary>A progress report: phase "loading" (Step = images read of Total) or "training" (optimizer steps).</summary>
public sealed record VaeTrainingProgress(string Phase, long Step, long Total, VaeStepLoss? Loss, double? StepsPerSecond, TimeSpan? Eta, string? LatestCheckpoint);

/// <summary>How a run ended, its last checkpoint, and the hub folder exported from it with the measured scaling factor.</summary>
public sealed record VaeTrainingResult(TrainingOutcome Outcome, long Step, string Checkpoint, VaeStepLoss? LastLoss, string Exported, double ScalingFactor);

/// <summary>The loop around <see cref="VaeTrainer"/>: images in memory, periodic checkpoints, cancellation with a final
/// checkpoint, and at the end the VAE exported in the hub layout with scaling_factor = 1 / std of its latents.</summary>
public static class VaeTrainingRun
{
    public static string CheckpointFolder(string outputDirectory) => TrainingRun.CheckpointFolder(outputDirectory);
    public static string ExportFolder(string outputDirectory) => Path.Combine(outputDirectory, "vae");

    public static VaeTrainingResult Run(VaeTrainingRequest request, Action<VaeTrainingProgress>? report = null,
        ScalarType exportDtype = ScalarType.Float16, CancellationToken cancel = default)
    {
        TorchThreads.ApplyToThisThread();
        using var checkpoint = request.ResumeFrom is null ? null : VaeTrainingCheckpoint.Read(request.ResumeFrom);
        // A resume keeps the recipe and architecture it was started with; steps and checkpoint interval are the new request's.
        var options = checkpoint is null ? request.Options
            : checkpoint.Options with { Steps = request.Options.Steps, CheckpointEvery = request.Options.CheckpointEvery };
        var config = checkpoint?.Config ?? request.Config;
        using var images = OnDevice(LoadImages(request.Data, options.ImageSize, config.InChannels, cancel,
            (done, total) => report?.Invoke(new VaeTrainingProgress("loading", done, total, null, null, null, null))), request.Device);
        AutoencoderKL model;
        using (var init = new Generator(unchecked((ulong)options.Seed)))
            model = VaeTrainer.Create(config, init);
        model.to(request.Device);
        using var trainer = new VaeTrainer(model, images, options);
        if (checkpoint is not null) trainer.Restore(checkpoint);

        var (outcome, latest, loss) = Loop(trainer, request.OutputDirectory, report, cancel);
        var folder = ExportFolder(request.OutputDirectory);
        double scaling = Export(trainer.Model, images, folder, options.Seed, request.ScalingImages, exportDtype);
        return new VaeTrainingResult(outcome, trainer.Step, latest, loss, folder, scaling);
    }

    static Tensor OnDevice(Tensor t, Device device)
    {
        if (t.device == device) return t;
        using (t) return t.to(device);
    }

    /// <summary>The newest numbered checkpoint in an output folder, or null.</summary>
    public static string? LatestCheckpoint(string outputDirectory) => TrainingRun.LatestCheckpoint(outputDirectory);

    static (TrainingOutcome, string, VaeStepLoss?) Loop(VaeTrainer trainer, string outputDirectory, Action<VaeTrainingProgress>? report, CancellationToken cancel)
    {
        var options = trainer.Options;
        string? latest = null;
        VaeStepLoss? loss = null;
        var rate = new StepRate();
        string Save() => latest = TrainingRun.SaveNumbered(outputDirectory, trainer.Step, trainer.Save);

        while (trainer.Step < options.Steps)
        {
            if (cancel.IsCancellationRequested) return (TrainingOutcome.Cancelled, Save(), loss);
            loss = rate.Time(trainer.TrainStep);
            if (trainer.Step % options.CheckpointEvery == 0 || trainer.Step == options.Steps) Save();
            report?.Invoke(new VaeTrainingProgress("training", trainer.Step, options.Steps, loss, rate.PerSecond, rate.TimeLeft(options.Steps - trainer.Step), latest));
        }
        return (TrainingOutcome.Completed, latest ?? Save(), loss);
    }

    /// <summary>
    /// Every image of <paramref name="data"/> as one (N, C, S, S) float32 tensor in [-1, 1] on the CPU, transformed as the
    /// latent cache transforms them (<see cref="ImagePreprocessing.ToTensor(IImageDataset, int, int, int)"/>: Fashion-MNIST padded).
    /// </summary>
    public static Tensor LoadImages(IImageDataset data, int size, int channels, CancellationToken cancel = default, Action<int, int>? progress = null)
    {
        if (data is FashionMnistDataset fashion && channels == 1 && size >= 28)
        {
            var (all, labels) = fashion.ToTensors();                            // (N, 1, 28, 28), (N)
            labels.Dispose();
            using (all) { progress?.Invoke(fashion.Count, fashion.Count); return ImagePreprocessing.PadWithBackground(all, size); }
        }
        var result = empty([data.Count, channels, size, size], ScalarType.Float32);
        try
        {
            const int Chunk = 256;
            for (int start = 0; start < data.Count; start += Chunk)
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                int count = Math.Min(Chunk, data.Count - start);
                var chunk = stack(Enumerable.Range(start, count).Select(i => ImagePreprocessing.ToTensor(data, i, size, channels)).ToArray());
                using (no_grad()) result.narrow(0, start, count).copy_(chunk);
                progress?.Invoke(start + count, data.Count);
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Stable Diffusion's choice of scaling factor: 1 / std of the latents (posterior samples, drawn with a generator seeded
    /// with <paramref name="seed"/>) of the first <paramref name="count"/> images, so that scaled latents have unit variance.
    /// </summary>
    public static double ScalingFactor(AutoencoderKL vae, Tensor images, long seed, int count = 2000)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator(unchecked((ulong)seed));
        var p = vae.parameters().First();
        var x = images.narrow(0, 0, Math.Min(count, images.shape[0])).to(p.dtype, p.device);   // (n, C, S, S)
        using var posterior = vae.Encode(x);
        var z = posterior.Sample(generator);                                                   // (n, C_lat, h, w)
        return 1 / z.to(ScalarType.Float64).std().item<double>();
    }

    /// <summary>Writes <paramref name="vae"/> in the hub layout (config.json with the measured scaling factor, weights in
    /// <paramref name="dtype"/>) to <paramref name="folder"/>; returns the scaling factor.</summary>
    public static double Export(AutoencoderKL vae, Tensor images, string folder, long seed, int count = 2000, ScalarType dtype = ScalarType.Float16)
    {
        bool training = vae.training;
        vae.eval();
        try
        {
            double scaling = ScalingFactor(vae, images, seed, count);
            vae.SaveHubFolder(folder, dtype, scaling);
            return scaling;
        }
        finally { if (training) vae.train(); }
    }
}
