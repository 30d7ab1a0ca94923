using DiT.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Serving.Engine;

/// <summary>
/// The model served when Model:CheckpointPath is empty (the benchmarks' default; the service's is the embedded trained
/// Fashion-MNIST model): an UNTRAINED DiT for 28x28 grey images (Fashion-MNIST's shape and class names), random weights
/// from a fixed seed. It exercises the whole path without a file; GET /model shows isUntrainedDefault = true and
/// start-up logs a warning.
/// </summary>
public static class DefaultModel
{
    public const string Name = "untrained-default (DiT 28px/p4, 1 channel, 10 classes)";
    public const ulong Seed = 20231;

    public static DiTConfig Config { get; } =
        new(InputSize: 28, PatchSize: 4, InChannels: 1, HiddenSize: 64, Depth: 2, NumHeads: 4, NumClasses: 10);

    public static string Fingerprint => $"untrained-default-s{Seed}";

    /// <summary>Every weight N(0, 0.02^2) from <see cref="Seed"/> (not DiT's zero init, whose output would ignore the class).</summary>
    public static DiTModel Create() => RandomWeights(Config, Seed);

    /// <summary>A DiT with all weights drawn from one seeded generator; also what the tests use for tiny checkpoints.</summary>
    public static DiTModel RandomWeights(DiTConfig config, ulong seed)
    {
        var model = new DiTModel(config);
        var generator = new Generator(seed, CPU);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
            if (name != "pos_embed") parameter.copy_(randn(parameter.shape, parameter.dtype, CPU, generator: generator).Times(0.02));
        model.eval();
        return model;
    }
}
