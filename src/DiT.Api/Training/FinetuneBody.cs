namespace DiT.Api.Training;

/// <summary>
/// POST /admin/finetune. Only <see cref="Data"/> is required. <see cref="Init"/>: "served" (default: the weights being
/// served), "checkpoint" (<see cref="Checkpoint"/>), or "scratch" (<see cref="Preset"/>, e.g. "DiT-S/2", with
/// <see cref="ImageSize"/>, <see cref="ImageChannels"/> and the data set's class count). Hyper-parameters default to
/// DiT's recipe (lr 1e-4, EMA 0.9999, batch 32); imageSize defaults to the model's.
/// </summary>
public sealed record FinetuneBody(
    string? Data = null,
    string? Init = null,
    string? Checkpoint = null,
    string? Preset = null,
    int? ImageChannels = null,
    int? Steps = null,
    int? BatchSize = null,
    double? LearningRate = null,
    double? EmaDecay = null,
    int? CheckpointEvery = null,
    int? ImageSize = null,
    long? Seed = null);
