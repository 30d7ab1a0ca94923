namespace DiT.Training;

/// <summary>
/// The hyper-parameters of one fine-tuning run, with DiT's reference recipe as defaults
/// (AdamW lr 1e-4, no weight decay, EMA 0.9999). Field names are the JSON names the admin API and the job records use.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>The defaults, for callers that fill in what a user left out (dit train, POST /admin/finetune).</summary>
    public static TrainingOptions Defaults { get; } = new();

    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 1e-4;
    public double EmaDecay { get; init; } = 0.9999;
    public int CheckpointEvery { get; init; } = 1000;
    /// <summary>Side of the square training images in pixels (the model's input size times the autoencoder's downsampling).</summary>
    public int ImageSize { get; init; } = 256;
    public long Seed { get; init; }

    public const int MaxSteps = 10_000_000, MaxBatchSize = 4096, MaxImageSize = 2048;

    /// <summary>Every out-of-range field, keyed by its JSON name, with what is allowed; empty when the options are usable.</summary>
    public Dictionary<string, string[]> Validate()
    {
        var errors = new Dictionary<string, string[]>();
        void Check(bool ok, string field, string message) { if (!ok) errors[field] = [message]; }
        Check(Steps is > 0 and <= MaxSteps, "steps", $"steps must be between 1 and {MaxSteps:N0}; got {Steps}.");
        Check(BatchSize is > 0 and <= MaxBatchSize, "batchSize", $"batchSize must be between 1 and {MaxBatchSize}; got {BatchSize}.");
        Check(LearningRate is > 0 and <= 1 && double.IsFinite(LearningRate), "learningRate", $"learningRate must be in (0, 1]; got {LearningRate}.");
        Check(EmaDecay is >= 0 and < 1, "emaDecay", $"emaDecay must be in [0, 1); got {EmaDecay}.");
        Check(CheckpointEvery is > 0 and <= MaxSteps, "checkpointEvery", $"checkpointEvery must be between 1 and {MaxSteps:N0} steps; got {CheckpointEvery}.");
        Check(ImageSize is > 0 and <= MaxImageSize, "imageSize", $"imageSize must be between 1 and {MaxImageSize} pixels; got {ImageSize}.");
        Check(Seed >= 0, "seed", $"seed must be 0 or more; got {Seed}.");
        return errors;
    }
}
