using System.Globalization;
using DiT.Model;
using DiT.Training.Checkpoints;
using DiT.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training;

/// <summary>What one training run needs; shared by `dit train` and the service's jobs.</summary>
public sealed record TrainingRunRequest
{
    public required IImageDataset Data { get; init; }
    /// <summary>Builds the starting model (scratch, checkpoint or served weights) on the CPU; not called when resuming.
    /// A from-scratch model draws its weights from the given generator, seeded with the run's seed.</summary>
    public required Func<Generator, DiTModel> InitialModel { get; init; }
    /// <summary>A training checkpoint to continue from (weights, EMA, optimizer state, step, seed).</summary>
    public string? ResumeFrom { get; init; }
    public required TrainingOptions Options { get; init; }
    /// <summary>Checkpoints go to &lt;OutputDirectory&gt;/checkpoints, the latent cache beside them.</summary>
    public required string OutputDirectory { get; init; }
    public required IAutoencoder Autoencoder { get; init; }
    /// <summary>Names the autoencoder for the latent-cache key ("pixels", or the VAE's path).</summary>
    public required string AutoencoderId { get; init; }
    public Device Device { get; init; } = CPU;
}

/// <summary>A progress report: phase "encoding" (Step = images encoded of Total) or "training" (optimizer steps).</summary>
public sealed record TrainingProgress(string Phase, long Step, long Total, double? Loss, double? StepsPerSecond, TimeSpan? Eta, string? LatestCheckpoint);

public enum TrainingOutcome { Completed, Cancelled }

public sealed record TrainingResult(TrainingOutcome Outcome, long Step, string? Checkpoint, double? LastLoss);

/// <summary>The training loop around <see cref="Trainer"/>: latent cache, periodic checkpoints, progress, cancellation with a final checkpoint.</summary>
public static class TrainingRun
{
    /// <summary>Numbered checkpoints kept on disk; older ones are deleted (a DiT-S/2 checkpoint with EMA and AdamW state is ~400 MB).</summary>
    public const int KeepCheckpoints = 3;

    public static string CheckpointFolder(string outputDirectory) => Path.Combine(outputDirectory, "checkpoints");

    /// <summary>The newest numbered checkpoint in an output folder, or null.</summary>
    public static string? LatestCheckpoint(string outputDirectory)
    {
        var folder = CheckpointFolder(outputDirectory);
        return Directory.Exists(folder)
            ? Directory.GetFiles(folder, "*.safetensors").Where(f => long.TryParse(Path.GetFileNameWithoutExtension(f), out _))
                .OrderBy(f => long.Parse(Path.GetFileNameWithoutExtension(f), CultureInfo.InvariantCulture)).LastOrDefault()
            : null;
    }

    /// <summary>
    /// Why a model cannot be trained on this data through an autoencoder with this downsampling and latent channel count,
    /// keyed by request field ("data", "imageSize", "model"); empty if it can.
    /// </summary>
    public static Dictionary<string, string[]> CheckFits(DiTConfig config, IImageDataset data, int downsampleFactor, int latentChannels, int imageSize)
    {
        var errors = new Dictionary<string, string[]>();
        if (data.ClassNames.Count != config.NumClasses)
            errors["data"] = [$"The data set has {data.ClassNames.Count} classes but the model has {config.NumClasses}; they must match."];
        if (imageSize != config.InputSize * downsampleFactor)
            errors["imageSize"] = [$"imageSize must be {config.InputSize * downsampleFactor} for this model (input {config.InputSize} x autoencoder downsampling {downsampleFactor}); got {imageSize}."];
        if (latentChannels != config.InChannels)
            errors["model"] = [$"The model takes {config.InChannels} input channels but the autoencoder makes {latentChannels}."];
        return errors;
    }

    public static TrainingResult Run(TrainingRunRequest request, Action<TrainingProgress>? report = null,
        Action<CancellationToken>? waitForTurn = null, CancellationToken cancel = default)
    {
        TorchThreads.ApplyToThisThread();
        var (trainer, data) = Prepare(request, report, cancel);
        using (data)
        using (trainer)
            return Loop(trainer, request.OutputDirectory, report, waitForTurn, cancel);
    }

    /// <summary>Model (new or restored), latent cache and trainer; a resumed checkpoint's tensors are released once copied.</summary>
    static (Trainer, LatentCache) Prepare(TrainingRunRequest request, Action<TrainingProgress>? report, CancellationToken cancel)
    {
        using var checkpoint = request.ResumeFrom is null ? null : TrainingCheckpointFile.Read(request.ResumeFrom);
        // A resume keeps the recipe it was started with (seed, batch, lr, EMA); steps and checkpoint interval are the new request's.
        var options = checkpoint?.Options is { } saved
            ? saved with { Steps = request.Options.Steps, CheckpointEvery = request.Options.CheckpointEvery }
            : request.Options;
        // From-scratch weights come from a generator of the run's own, so a run is reproducible from its seed even while
        // other threads draw from the process-wide RNG.
        DiTModel model;
        using (var init = new Generator(unchecked((ulong)options.Seed)))
            model = checkpoint is null ? request.InitialModel(init) : new DiTModel(checkpoint.Config);
        LatentCache data;
        try
        {
            var misfit = CheckFits(model.Config, request.Data, request.Autoencoder.DownsampleFactor, request.Autoencoder.LatentChannels, options.ImageSize);
            if (misfit.Count > 0) throw new ArgumentException(string.Join(" ", misfit.Values.SelectMany(v => v)));
            model.to(request.Device);
            var cachePath = LatentCache.PathFor(request.OutputDirectory, request.Data, options.ImageSize, request.AutoencoderId, options.Seed);
            data = LatentCache.LoadOrBuild(request.Data, request.Autoencoder, options.ImageSize, options.Seed, cachePath, request.Device, cancel,
                (done, total) => report?.Invoke(new TrainingProgress("encoding", done, total, null, null, null, null)));
        }
        catch
        {
            model.Dispose();
            throw;
        }
        var trainer = new Trainer(model, data, options, request.Data.ClassNames);
        try
        {
            if (checkpoint is not null) trainer.Restore(checkpoint);
            return (trainer, data);
        }
        catch
        {
            trainer.Dispose();
            data.Dispose();
            throw;
        }
    }

    static TrainingResult Loop(Trainer trainer, string outputDirectory, Action<TrainingProgress>? report,
        Action<CancellationToken>? waitForTurn, CancellationToken cancel)
    {
        var options = trainer.Options;
        string? latest = null;
        double? loss = null;
        var rate = new StepRate();
        string Save() => latest = SaveNumbered(outputDirectory, trainer.Step, trainer.Save);

        while (trainer.Step < options.Steps)
        {
            if (cancel.IsCancellationRequested) return new TrainingResult(TrainingOutcome.Cancelled, trainer.Step, Save(), loss);
            try { waitForTurn?.Invoke(cancel); }
            catch (OperationCanceledException) { continue; }

            loss = rate.Time(trainer.TrainStep);
            if (trainer.Step % options.CheckpointEvery == 0 || trainer.Step == options.Steps) Save();
            report?.Invoke(new TrainingProgress("training", trainer.Step, options.Steps, loss, rate.PerSecond, rate.TimeLeft(options.Steps - trainer.Step), latest));
        }
        return new TrainingResult(TrainingOutcome.Completed, trainer.Step, latest ?? Save(), loss);
    }

    /// <summary>Writes step's checkpoint, &lt;out&gt;/checkpoints/&lt;step:7&gt;.safetensors, with <paramref name="write"/>,
    /// then deletes all but the newest <see cref="KeepCheckpoints"/>; returns its path.</summary>
    internal static string SaveNumbered(string outputDirectory, long step, Action<string> write)
    {
        var path = Path.Combine(CheckpointFolder(outputDirectory), $"{step:D7}.safetensors");
        write(path);
        Prune(outputDirectory);
        return path;
    }

    static void Prune(string outputDirectory)
    {
        var folder = CheckpointFolder(outputDirectory);
        var numbered = Directory.GetFiles(folder, "*.safetensors")
            .Where(f => long.TryParse(Path.GetFileNameWithoutExtension(f), out _))
            .OrderByDescending(f => long.Parse(Path.GetFileNameWithoutExtension(f), CultureInfo.InvariantCulture));
        foreach (var old in numbered.Skip(KeepCheckpoints)) File.Delete(old);
    }
}
