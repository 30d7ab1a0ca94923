using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Training.Data;
using static TorchSharp.torch;

namespace DiT.Api.Training;

/// <summary>The starting model and the autoencoder of a job, from its <see cref="JobSpec"/> and the Model options.</summary>
public static class JobModels
{
    public const string FromCheckpoint = "checkpoint", FromDefault = "default", FromScratch = "scratch";

    /// <summary>Image side / latent side and latent channels of the autoencoder jobs use (the served one: pixels, or the SD VAE).</summary>
    public static (int DownsampleFactor, int LatentChannels) AutoencoderShape(ModelOptions model, int imageChannels) =>
        model.IsPixelSpace ? (1, imageChannels) : (AutoencoderKLConfig.SdVaeFtMse.DownsampleFactor, AutoencoderKLConfig.SdVaeFtMse.LatentChannels);

    public static IAutoencoder CreateAutoencoder(ModelOptions model, JobSpec spec, Device device) =>
        model.IsPixelSpace ? new PixelSpaceAutoencoder(spec.ImageChannels) : AutoencoderKL.Load(model.VaePath, device);

    public static string AutoencoderId(ModelOptions model, JobSpec spec) =>
        model.IsPixelSpace ? $"pixels{spec.ImageChannels}" : Path.GetFullPath(model.VaePath);

    /// <summary>The config the job starts from, without building the model (scratch: the preset at the job's latent size and class count).</summary>
    public static DiTConfig ConfigOf(JobSpec spec, int classCount, int downsampleFactor, int latentChannels)
    {
        switch (spec.Init)
        {
            case FromCheckpoint:
                return CheckpointConfig(spec.InitCheckpoint!);
            case FromDefault:
                return DefaultModel.Config;
            default:
                return DiTConfig.Preset(spec.Preset!, spec.Options.ImageSize / downsampleFactor, classCount, latentChannels);
        }
    }

    /// <summary>The config a checkpoint file holds (metadata, else inferred from its shapes).</summary>
    public static DiTConfig CheckpointConfig(string path)
    {
        var (tensors, metadataConfig) = DiTCheckpoint.ReadStateDict(path);
        try { return DiTCheckpoint.InferConfig(tensors, metadataConfig); }
        finally { StateDicts.DisposeAll(tensors.Values); }
    }

    /// <summary>Builds the starting model on the CPU (the trainer moves it).</summary>
    public static DiTModel Create(JobSpec spec, IImageDataset data, int downsampleFactor, int latentChannels, Generator generator) => spec.Init switch
    {
        FromCheckpoint => DiTCheckpoint.Load(spec.InitCheckpoint!),
        FromDefault => DefaultModel.Create(),
        _ => new DiTModel(ConfigOf(spec, data.ClassNames.Count, downsampleFactor, latentChannels), generator),
    };
}
