using DiT.Diffusion;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Training.Checkpoints;
using DiT.Training.Data;
using TorchSharp;
using static DiT.Training.Tests.TinyTraining;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

public class TrainerTests
{
    [Fact]
    public void FewStepsLowerTheLossOnAFixedBatch()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(ImageFolder(dir.Sub("data")));
        using var cache = LatentCache.LoadOrBuild(data, new PixelSpaceAutoencoder(1), 8, seed: 1, cachePath: null, CPU, CancellationToken.None);
        using var trainer = new Trainer(new DiTModel(Config), cache, Options(), data.ClassNames);

        var diffusion = GaussianDiffusion.Create(new DiffusionOptions());
        using var g = new Generator(3);
        using var t = randint(0, 1000, [cache.Rows], generator: g);
        using var noise = randn(cache.Latents.shape, generator: g);
        double FixedBatchLoss()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return diffusion.TrainingLosses((x, tt) => trainer.Model.forward(x, tt, cache.Labels), cache.Latents, t, noise).Mse.mean().item<float>();
        }

        double before = FixedBatchLoss();
        for (int i = 0; i < 30; i++) trainer.TrainStep();
        double after = FixedBatchLoss();
        Assert.True(after < 0.7 * before, $"fixed-batch loss {before:F4} -> {after:F4} after 30 steps");
    }

    [Fact]
    public void CheckpointLoadsAsTheEmaWeightsThroughDiTCheckpoint()
    {
        using var dir = new TempDir();
        var result = TrainingRun.Run(Request(ImageFolder(dir.Sub("data")), dir.Sub("out"), Options(steps: 6, checkpointEvery: 3)));
        Assert.Equal(TrainingOutcome.Completed, result.Outcome);
        Assert.Equal(6, result.Step);
        Assert.Equal(Path.Combine(dir.Sub("out"), "checkpoints", "0000006.safetensors"), result.Checkpoint);
        Assert.True(File.Exists(Path.Combine(dir.Sub("out"), "checkpoints", "0000003.safetensors")));

        using var file = TrainingCheckpointFile.Read(result.Checkpoint!);
        using var served = DiTCheckpoint.Load(result.Checkpoint!);
        using var trained = DiTCheckpoint.Load(result.Checkpoint!, entry: "model");
        Assert.Equal(Config, served.Config);
        Assert.Equal(["a_left", "b_top"], file.Classes);
        foreach (var (key, value) in served.state_dict()) Assert.True(value.equal(file.Ema[key]).all().item<bool>(), key);
        foreach (var (key, value) in trained.state_dict()) Assert.True(value.equal(file.Model[key]).all().item<bool>(), key);
        Assert.False(file.Ema["final_layer.linear.weight"].allclose(file.Model["final_layer.linear.weight"]), "EMA lags the trained weights");
    }

    [Fact]
    public void CancelSavesACheckpointAndResumeContinuesExactlyAsAnUninterruptedRun()
    {
        using var dir = new TempDir();
        var data = ImageFolder(dir.Sub("data"));
        var whole = TrainingRun.Run(Request(data, dir.Sub("whole"), Options(steps: 8)));

        using var stop = new CancellationTokenSource();
        var cancelled = TrainingRun.Run(Request(data, dir.Sub("split"), Options(steps: 8)),
            p => { if (p.Phase == "training" && p.Step == 3) stop.Cancel(); }, cancel: stop.Token);
        Assert.Equal(TrainingOutcome.Cancelled, cancelled.Outcome);
        Assert.Equal(3, cancelled.Step);

        // Restoring gives back exactly the saved step count and AdamW moments.
        using (var saved = TrainingCheckpointFile.Read(cancelled.Checkpoint!))
        using (var cache = LatentCache.LoadOrBuild(ImageDatasets.Open(data), new PixelSpaceAutoencoder(1), 8, 7, null, CPU, CancellationToken.None))
        using (var restored = new Trainer(new DiTModel(saved.Config), cache, saved.Options!, saved.Classes))
        {
            restored.Restore(saved);
            Assert.Equal(3, restored.Step);
            using var scope = NewDisposeScope();
            var state = AdamWState.Export(restored.Optimizer, restored.Model.named_parameters().Where(p => p.parameter.requires_grad).ToList());
            Assert.Equal(saved.Optimizer.Keys.Order(), state.Keys.Order());
            foreach (var (key, value) in state) Assert.True(value.equal(saved.Optimizer[key]).all().item<bool>(), key);
            Assert.Equal(3, saved.Optimizer["final_layer.linear.weight.step"].item<long>());
            Assert.True(saved.Optimizer["final_layer.linear.weight.exp_avg_sq"].abs().sum().item<float>() > 0, "moments are real state, not zeros");
        }

        var resumed = TrainingRun.Run(Request(data, dir.Sub("split"), Options(steps: 8), resume: cancelled.Checkpoint));
        Assert.Equal((TrainingOutcome.Completed, 8L), (resumed.Outcome, resumed.Step));
        using var a = TrainingCheckpointFile.Read(whole.Checkpoint!);
        using var b = TrainingCheckpointFile.Read(resumed.Checkpoint!);
        foreach (var (key, value) in a.Model) Assert.True(value.allclose(b.Model[key], rtol: 0, atol: 1e-6), $"model {key}");
        foreach (var (key, value) in a.Ema) Assert.True(value.allclose(b.Ema[key], rtol: 0, atol: 1e-6), $"ema {key}");
        foreach (var (key, value) in a.Optimizer) Assert.True(value.allclose(b.Optimizer[key], rtol: 1e-5, atol: 1e-9), $"opt {key}");
    }

    [Fact]
    public void EmaMovesTowardsTheModelByOneMinusDecay()
    {
        using var model = nn.Linear(2, 2);
        using var ema = nn.Linear(2, 2);
        Ema.CopyInto(ema, model);
        using (no_grad()) model.weight!.add_(1.0);
        Ema.Update(ema, model, decay: 0.75);
        using var expected = model.weight!.detach() - 0.75;
        Assert.True(ema.weight!.allclose(expected, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void ClassCountOrImageSizeThatDoesNotFitTheModelIsReported()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(ImageFolder(dir.Path, 1, "a", "b", "c"));
        var errors = TrainingRun.CheckFits(Config, data, new PixelSpaceAutoencoder(1), imageSize: 16);
        Assert.Equal(["dataset", "imageSize"], errors.Keys.Order());
        Assert.Contains("3 classes", errors["dataset"][0]);
    }
}
