using DiT.Api.Options;
using DiT.Api.Promotions;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Model.IO;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Startup;
using DiT.Training;
using DiT.Training.Data;
using Microsoft.Extensions.Options;

namespace DiT.Api.Training;

/// <summary>
/// Turns a <see cref="FinetuneBody"/> into a <see cref="JobSpec"/>, or fills <c>errors</c> (field -> messages) and returns null.
/// Everything that can be known before training is checked here: hyper-parameter ranges, paths inside the data roots
/// (every class folder and image too, symlinks resolved), the data set (every image header is read), the starting weights,
/// and that data, model and autoencoder fit together.
/// </summary>
public sealed class FinetuneValidator(IOptions<TrainingJobsOptions> jobs, IOptions<ModelOptions> model, JobStore store, ServedWeights promoted)
{
    static readonly string[] Inits = ["served", JobModels.FromCheckpoint, JobModels.FromScratch];

    readonly PathRoots _dataRoots = new(jobs.Value.DataRoots);
    readonly PathRoots _checkpointRoots = new([.. jobs.Value.DataRoots, store.Folder]); // a job's own checkpoints may start another

    public JobSpec? Validate(FinetuneBody body, ServedModel? served, Dictionary<string, string[]> errors)
    {
        var dataPath = ResolvePath(body.Data, "data", errors, required: true, _dataRoots);
        var init = (body.Init ?? "served").ToLowerInvariant();
        string? initCheckpoint = null;
        DiTConfig? config = null;
        switch (init)
        {
            case "served":
                (init, initCheckpoint) = ServedInit(served, errors);
                if (served is not null) config = DiTConfig.FromJson(served.Config.ToJsonString());
                break;
            case JobModels.FromCheckpoint:
                initCheckpoint = ResolvePath(body.Checkpoint, "checkpoint", errors, required: true, _checkpointRoots);
                break;
            case JobModels.FromScratch:
                if (body.Preset is null || !DiTConfig.Presets.ContainsKey(body.Preset))
                    errors["preset"] = [$"init 'scratch' needs a preset: one of {string.Join(", ", DiTConfig.Presets.Keys)}."];
                if (body.ImageSize is null) errors["imageSize"] = ["init 'scratch' needs imageSize (pixels per side)."];
                if (body.ImageChannels is not (null or 1 or 3)) errors["imageChannels"] = [$"imageChannels must be 1 (grey) or 3 (RGB); got {body.ImageChannels}."];
                break;
            default:
                errors["init"] = [$"init must be one of {string.Join(", ", Inits)}; got '{body.Init}'."];
                break;
        }

        var data = dataPath is null ? null : OpenData(dataPath, _dataRoots, errors);
        if (initCheckpoint is not null && init == JobModels.FromCheckpoint && config is null)
            config = ReadConfig(initCheckpoint, body.Checkpoint is null ? "init" : "checkpoint", errors);
        if (init == JobModels.FromDefault) config = DefaultModel.Config;

        int channels = config?.InChannels is { } c && model.Value.IsPixelSpace ? c : body.ImageChannels ?? (data is FashionMnistDataset ? 1 : 3);
        var (factor, latentChannels) = JobModels.AutoencoderShape(model.Value, channels);
        var options = new TrainingOptions
        {
            Steps = body.Steps ?? TrainingOptions.Defaults.Steps,
            BatchSize = body.BatchSize ?? TrainingOptions.Defaults.BatchSize,
            LearningRate = body.LearningRate ?? TrainingOptions.Defaults.LearningRate,
            EmaDecay = body.EmaDecay ?? TrainingOptions.Defaults.EmaDecay,
            CheckpointEvery = body.CheckpointEvery ?? TrainingOptions.Defaults.CheckpointEvery,
            ImageSize = body.ImageSize ?? (config is null ? 0 : config.InputSize * factor),
            Seed = body.Seed ?? TrainingOptions.Defaults.Seed,
        };
        foreach (var (field, messages) in options.Validate()) errors.TryAdd(field, messages);
        if (errors.Count > 0 || data is null) return null;

        var spec = new JobSpec(dataPath!, init, initCheckpoint, body.Preset, channels, options);
        config ??= JobModels.ConfigOf(spec, data.ClassNames.Count, factor, latentChannels);
        foreach (var (field, messages) in TrainingRun.CheckFits(config, data, factor, latentChannels, options.ImageSize)) errors[field] = messages;
        return errors.Count == 0 ? spec : null;
    }

    /// <summary>The served weights as a file to start from: the last promoted checkpoint, the configured checkpoint, or the built-in default.</summary>
    (string Init, string? Checkpoint) ServedInit(ServedModel? served, Dictionary<string, string[]> errors)
    {
        if (served is null)
        {
            errors["init"] = ["No model is served yet; use init 'checkpoint' or 'scratch', or retry once the model is loaded."];
            return ("served", null);
        }
        if (promoted.Last is { } p && p.Fingerprint == served.Fingerprint && File.Exists(p.Checkpoint)) return (JobModels.FromCheckpoint, p.Checkpoint);
        if (served.IsUntrainedDefault) return (JobModels.FromDefault, null);
        if (File.Exists(served.Source)) return (JobModels.FromCheckpoint, served.Source);
        errors["init"] = ["The served weights have no file to start from; use init 'checkpoint' with a checkpoint path."];
        return ("served", null);
    }

    string? ResolvePath(string? path, string field, Dictionary<string, string[]> errors, bool required, PathRoots roots)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            if (required) errors[field] = [$"{field} is required: a path inside the data roots ({string.Join(", ", jobs.Value.DataRoots)})."];
            return null;
        }
        if (path.Contains('\0')) { errors[field] = [$"{field} contains a NUL byte, which no file name can hold."]; return null; }
        string? real;
        try { real = roots.Resolve(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { errors[field] = [$"'{path}' cannot be resolved: {e.Message}"]; return null; }
        if (real is null)
        {
            errors[field] = [jobs.Value.DataRoots.Length == 0
                ? "No data roots are configured (Training:DataRoots), so no path is allowed."
                : $"'{path}' is outside the allowed data roots ({string.Join(", ", jobs.Value.DataRoots)}), symbolic links resolved."];
            return null;
        }
        if (!File.Exists(real) && !Directory.Exists(real)) { errors[field] = [$"'{path}' does not exist."]; return null; }
        return real;
    }

    static IImageDataset? OpenData(string path, PathRoots roots, Dictionary<string, string[]> errors)
    {
        try { return ImageDatasets.Open(path, roots); }
        catch (DatasetException e) { errors["data"] = [e.Message]; return null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { errors["data"] = [$"'{path}' cannot be read: {e.Message}"]; return null; }
    }

    static DiTConfig? ReadConfig(string path, string field, Dictionary<string, string[]> errors)
    {
        try { return JobModels.CheckpointConfig(path); }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or FormatException or ArgumentException or CheckpointMismatchException or NotSupportedException)
        {
            errors[field] = [$"'{path}' is not a usable DiT checkpoint: {ErrorText.WithoutPath(e, path)}"];
            return null;
        }
    }
}
