using DiT.Diffusion;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Training.Checkpoints;
using DiT.Training.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiT.Training;

/// <summary>
/// One DiT being trained on one device with DiT's recipe: AdamW (betas 0.9/0.999, no weight decay), an EMA copy updated
/// after every step, label dropout for guidance, uniform timesteps, loss = mean over the batch of the per-sample
/// diffusion loss. Every random draw of step k comes from a generator seeded with (seed, k), so a run is reproducible
/// and a resumed run continues exactly as the uninterrupted one would. Owns the model it is given. Not thread-safe:
/// all calls on one thread (TorchSharp dispose scopes are thread-static).
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly LatentCache _data;
    readonly GaussianDiffusion _diffusion;
    readonly List<(string name, Parameter parameter)> _trainable;
    readonly Generator _generator = new(0);
    readonly Device _device;

    public Trainer(DiTModel model, LatentCache data, TrainingOptions options, IReadOnlyList<string> classes)
    {
        (Model, _data, Options, Classes) = (model, data, options, classes);
        _device = model.parameters().First().device;
        // Label dropout is drawn here from the step's generator (see TrainStep), so the model runs in eval mode:
        // DiT has no other train/eval difference, and training-mode dropout would use the process-wide RNG.
        Model.eval();
        Ema = new DiTModel(model.Config);
        Ema.to(_device);
        Training.Ema.CopyInto(Ema, Model);
        foreach (var p in Ema.parameters()) p.requires_grad = false;
        Ema.eval();
        _trainable = Model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Optimizer = new AdamWOptimizer(_trainable.Select(p => p.parameter), options.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0);
        _diffusion = GaussianDiffusion.Create(new DiffusionOptions(LearnSigma: model.Config.LearnSigma));
    }

    public DiTModel Model { get; }
    public DiTModel Ema { get; }
    public AdamWOptimizer Optimizer { get; }
    public TrainingOptions Options { get; }
    public IReadOnlyList<string> Classes { get; }
    public DiTConfig Config => Model.Config;
    /// <summary>Optimizer steps taken so far (restored by <see cref="Restore"/>).</summary>
    public long Step { get; private set; }

    /// <summary>Continues from a checkpoint: trained and EMA weights, AdamW moments and step counts, the step number.</summary>
    public void Restore(TrainingCheckpointFile checkpoint)
    {
        StateDicts.CopyStrict(Model, checkpoint.Model, $"{checkpoint.Path} (model.*)");
        StateDicts.CopyStrict(Ema, checkpoint.Ema, $"{checkpoint.Path} (ema.*)");
        AdamWState.Import(Optimizer, _trainable, checkpoint.Optimizer, checkpoint.Path);
        Step = checkpoint.Step;
    }

    /// <summary>One optimizer step on a random batch; returns the batch's mean loss.</summary>
    public double TrainStep()
    {
        using var scope = NewDisposeScope();
        _generator.manual_seed(unchecked((long)((ulong)Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)Step)));
        long b = Options.BatchSize;
        var rows = randint(0, _data.Rows, [b], generator: _generator).to(_device);                 // (B) image or mirror rows
        var x = _data.Latents.index_select(0, rows);                                               // (B, C, h, w)
        var y = _data.Labels.index_select(0, rows);                                                // (B)
        if (Config.ClassDropoutProb > 0)
        {
            var drop = rand([b], generator: _generator).LessThan(Config.ClassDropoutProb).to(_device);  // (B) bool
            y = where(drop, KeptScalars.FullLike(y, Config.NumClasses), y);                                   // null class for CFG
        }
        var t = _diffusion.SampleTimesteps(b, generator: _generator).to(_device);                 // (B)
        var noise = randn(x.shape, generator: _generator).to(_device);                           // (B, C, h, w)
        var loss = _diffusion.TrainingLosses((xt, tt) => Model.forward(xt, tt, y), x, t, noise).Loss.mean();
        Optimizer.ZeroGrad();
        loss.backward();
        Optimizer.Step();
        Training.Ema.Update(Ema, Model, Options.EmaDecay);
        Step++;
        return loss.item<float>();
    }

    /// <summary>Writes the full training state (see <see cref="TrainingCheckpointFile"/>) atomically.</summary>
    public void Save(string path)
    {
        using var scope = NewDisposeScope();
        TrainingCheckpointFile.Save(path, Step, Config, Classes, Options,
            Model.state_dict(), Ema.state_dict(), AdamWState.Export(Optimizer, _trainable));
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Ema.Dispose();
        Model.Dispose();
        _generator.Dispose();
    }
}
