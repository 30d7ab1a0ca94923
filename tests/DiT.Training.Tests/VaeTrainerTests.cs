using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Training.Checkpoints;
using DiT.Training.Data;
using DiT.Training.Vae;
using DiT.Testing;
using TorchSharp;
using static DiT.Training.Tests.TinyTraining;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

public class VaeTrainerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Three blocks (downsampling 4), 4 latent channels, tiny widths: 32x32 grey images <-> 8x8x4 latents.</summary>
    static readonly AutoencoderKLConfig TinyVae = new([8, 8, 16], LayersPerBlock: 1, LatentChannels: 4, NormNumGroups: 4,
        InChannels: 1, OutChannels: 1, ScalingFactor: 1, SampleSize: 32);

    static VaeTrainingOptions Options(int steps, int checkpointEvery = 1000) => new()
    {
        Steps = steps, BatchSize = 4, LearningRate = 2e-3, KlWeight = 1e-6, CheckpointEvery = checkpointEvery, ImageSize = 32, Seed = 5,
    };

    static VaeTrainingRequest Request(string data, string output, VaeTrainingOptions options, string? resume = null) => new()
    {
        Data = ImageDatasets.Open(data), Config = TinyVae, Options = options, OutputDirectory = output, ResumeFrom = resume, ScalingImages = 6,
    };

    [Fact]
    public void FewStepsLowerTheLossOnAFixedBatch()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(FashionMnistFolder(dir.Sub("data"), count: 6));
        using var images = VaeTrainingRun.LoadImages(data, 32, 1);
        using var init = new Generator(1);
        using var trainer = new VaeTrainer(VaeTrainer.Create(TinyVae, init), images, Options(steps: 30));
        using var g = new Generator(3);
        using var noise = randn([6, 4, 8, 8], generator: g);
        double FixedBatchLoss()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return trainer.Losses(images, noise).Loss.item<float>();
        }

        double before = FixedBatchLoss();
        VaeStepLoss? last = null;
        for (int i = 0; i < 30; i++) last = trainer.TrainStep();
        double after = FixedBatchLoss();
        output.WriteLine($"fixed-batch loss {before:F4} -> {after:F4} after 30 steps (last step {last})");
        Assert.True(double.IsFinite(last!.Loss) && double.IsFinite(last.Kl), $"last step {last}");
        Assert.True(after < 0.7 * before, $"fixed-batch loss {before:F4} -> {after:F4} after 30 steps");
    }

    /// <summary>
    /// The tiny VAE's convolutions have 8 and 4 output channels, part blocks for libtorch's oneDNN backward (see
    /// WholeBlockConvolution): every parameter's fp32 gradient must match fp64's (no oneDNN), with NaN left in freed memory.
    /// </summary>
    [Fact]
    public void GradientsMatchDoublePrecisionWithNaNInFreedMemory()
    {
        using var g = new Generator(2);
        using var x = rand([4, 1, 32, 32], generator: g).mul_(2).sub_(1);   // (N, C, S, S) in [-1, 1]
        using var noise = randn([4, 4, 8, 8], generator: g);              // (N, C_lat, h, w)
        using var x64 = x.to(ScalarType.Float64);
        using var noise64 = noise.to(ScalarType.Float64);
        using var init = new Generator(1);
        using var init64 = new Generator(1);
        using var trainer = new VaeTrainer(VaeTrainer.Create(TinyVae, init), x, Options(steps: 1));
        using var trainer64 = new VaeTrainer(VaeTrainer.Create(TinyVae, init64).to(ScalarType.Float64), x64, Options(steps: 1));
        using (var scope = NewDisposeScope()) trainer64.Losses(x64, noise64).Loss.backward();
        var expected = trainer64.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        double largest = expected.Values.Max(e => e.abs().max().item<double>());

        for (int attempt = 0; attempt < 3; attempt++)
        {
            using var scope = NewDisposeScope();
            trainer.Model.zero_grad();
            FreedMemory.LeaveNaN();
            trainer.Losses(x, noise).Loss.backward();
            foreach (var (name, parameter) in trainer.Model.named_parameters())
            {
                var reference = expected[name];
                // to_k's bias has a zero gradient (softmax ignores a shift), so its error is judged against the largest of all
                double error = (parameter.grad!.to(ScalarType.Float64) - reference).abs().max().item<double>();
                double allowed = 1e-4 * reference.abs().max().item<double>() + 1e-6 * largest;
                Assert.True(error <= allowed, $"attempt {attempt}: {name}'s gradient is off by {error:G3} (allowed {allowed:G3})");
            }
        }
    }

    [Fact]
    public void CancelSavesACheckpointAndResumeContinuesExactlyAsAnUninterruptedRun()
    {
        using var dir = new TempDir();
        var data = FashionMnistFolder(dir.Sub("data"), count: 6);
        var whole = VaeTrainingRun.Run(Request(data, dir.Sub("whole"), Options(steps: 6)));

        using var stop = new CancellationTokenSource();
        var cancelled = VaeTrainingRun.Run(Request(data, dir.Sub("split"), Options(steps: 6)),
            p => { if (p.Phase == "training" && p.Step == 3) stop.Cancel(); }, cancel: stop.Token);
        Assert.Equal((TrainingOutcome.Cancelled, 3L), (cancelled.Outcome, cancelled.Step));
        using (var saved = VaeTrainingCheckpoint.Read(cancelled.Checkpoint))
        {
            Assert.Equal(3, saved.Step);
            Assert.Equal(3, saved.Optimizer["decoder.conv_out.weight.step"].item<long>());
            Assert.True(saved.Optimizer["decoder.conv_out.weight.exp_avg_sq"].abs().sum().item<float>() > 0, "moments are real state, not zeros");
        }

        // The resumed run gets another seed and lr: the checkpoint's recipe wins.
        var resumed = VaeTrainingRun.Run(Request(data, dir.Sub("split"), Options(steps: 6) with { Seed = 99, LearningRate = 0.5 }, resume: cancelled.Checkpoint));
        Assert.Equal((TrainingOutcome.Completed, 6L), (resumed.Outcome, resumed.Step));
        using var a = VaeTrainingCheckpoint.Read(whole.Checkpoint);
        using var b = VaeTrainingCheckpoint.Read(resumed.Checkpoint);
        foreach (var (key, value) in a.Model) Assert.True(value.equal(b.Model[key]).all().item<bool>(), $"model {key}");
        foreach (var (key, value) in a.Optimizer) Assert.True(value.equal(b.Optimizer[key]).all().item<bool>(), $"opt {key}");
        Assert.Equal(whole.ScalingFactor, resumed.ScalingFactor);
    }

    [Fact]
    public void ExportedFolderLoadsThroughAutoencoderKLLoadWithItsScalingFactor()
    {
        using var dir = new TempDir();
        var result = VaeTrainingRun.Run(Request(FashionMnistFolder(dir.Sub("data"), count: 6), dir.Sub("out"), Options(steps: 2)));
        Assert.Equal(Path.Combine(dir.Sub("out"), "vae"), result.Exported);
        Assert.True(File.Exists(Path.Combine(result.Exported, "config.json")));
        var weights = Path.Combine(result.Exported, "diffusion_pytorch_model.safetensors");
        Assert.All(Safetensors.ReadHeader(weights).Tensors.Values, t => Assert.Equal("F16", t.DType));
        Assert.True(result.ScalingFactor > 0 && double.IsFinite(result.ScalingFactor));

        using var vae = AutoencoderKL.Load(dir.Sub("out"));   // through vae/, as a pipeline folder
        Assert.Equal(result.ScalingFactor, vae.ScalingFactor);
        Assert.Equal(TinyVae.BlockOutChannels, vae.Config.BlockOutChannels);
        Assert.Equal(TinyVae with { BlockOutChannels = vae.Config.BlockOutChannels, ScalingFactor = result.ScalingFactor }, vae.Config);

        // What the service and the latent cache do: (N, 1, 32, 32) -> (N, 4, 8, 8) scaled latents -> (N, 1, 32, 32) images.
        using var images = VaeTrainingRun.LoadImages(ImageDatasets.Open(dir.Sub("data")), 32, 1);
        using var g = new Generator(5);
        using var latents = vae.EncodeToLatents(images, g);
        Assert.Equal([6L, 4, 8, 8], latents.shape);
        double std = latents.std().item<float>();
        Assert.InRange(std, 0.9, 1.1);   // measured on these same 6 images (fp32), then stored in fp16
        using var decoded = vae.DecodeLatents(latents);
        Assert.Equal([6L, 1, 32, 32], decoded.shape);
        Assert.True(decoded.abs().max().item<float>() <= 1);
    }

    [Fact]
    public void FashionMnistIsPaddedWithItsBlackBackgroundTheSameWayForTheVaeAndTheLatentCache()
    {
        using var dir = new TempDir();
        var data = (FashionMnistDataset)ImageDatasets.Open(FashionMnistFolder(dir.Sub("data"), count: 3));
        using var padded = VaeTrainingRun.LoadImages(data, 32, 1);
        var (original, labels) = data.ToTensors();
        using (original) using (labels)
        {
            Assert.Equal([3L, 1, 32, 32], padded.shape);
            using var centre = ImagePreprocessing.CropCentre(padded, 28, 28);
            Assert.True(centre.equal(original).all().item<bool>());
            using var border = padded.narrow(2, 0, 2);
            Assert.True(border.eq(-1.0).all().item<bool>());
            for (int i = 0; i < 3; i++)
            {
                using var one = ImagePreprocessing.ToTensor(data, i, 32, 1);
                using var row = padded[i];
                Assert.True(one.equal(row).all().item<bool>(), $"image {i}");
            }
        }
    }

    [Fact]
    public void ConfigJsonRoundTripsThroughTheDiffusersReader()
    {
        var config = TinyVae with { ScalingFactor = 0.4321, MidBlockAddAttention = false };
        var back = AutoencoderKLConfig.FromJson(config.ToJson(), "config.json");
        Assert.Equal(config.BlockOutChannels, back.BlockOutChannels);
        Assert.Equal(config with { BlockOutChannels = back.BlockOutChannels }, back);
        Assert.Contains("\"_class_name\": \"AutoencoderKL\"", config.ToJson());
    }

    [Fact]
    public void TrainingStepsAndCheckpointsLeaveNoLiveTensorsBehind()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(FashionMnistFolder(dir.Sub("data"), count: 4));
        using var images = VaeTrainingRun.LoadImages(data, 32, 1);
        using var init = new Generator(1);
        using var trainer = new VaeTrainer(VaeTrainer.Create(TinyVae, init), images, Options(steps: 10));
        trainer.TrainStep();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) trainer.TrainStep();
        trainer.Save(Path.Combine(dir.Path, "leak.safetensors"));
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

public class VaeReconstructionTests
{
    [Fact]
    public void PsnrIsTwentyDecibelsForATenthOfTheRangeOff()
    {
        using var originals = rand([3, 1, 28, 28]) * 2 - 1;
        using var off = originals + 0.2;                         // 0.1 on [0, 1]: MSE 0.01
        Assert.Equal(20.0, Evaluation.VaeReconstruction.Psnr(originals, off), 6);
    }

    [Fact]
    public void EightBitRoundingKeepsImagesReadFromBytes()
    {
        using var dir = new TempDir();
        var (images, labels) = ((FashionMnistDataset)ImageDatasets.Open(FashionMnistFolder(dir.Path, count: 2))).ToTensors();
        using (images) using (labels)
        {
            using var rounded = Evaluation.VaeReconstruction.ToEightBit(images);
            Assert.True(rounded.equal(images).all().item<bool>());
        }
    }

    [Fact]
    public void ReconstructionsOfFashionMnistAreCroppedBackToItsSize()
    {
        var config = new AutoencoderKLConfig([8, 8, 16], LayersPerBlock: 1, LatentChannels: 4, NormNumGroups: 4, InChannels: 1, OutChannels: 1, SampleSize: 32);
        using var vae = new AutoencoderKL(config);
        using var images = rand([3, 1, 28, 28]) * 2 - 1;
        using var reconstructions = Evaluation.VaeReconstruction.Reconstruct(vae, images, 32, batchSize: 2);
        Assert.Equal([3L, 1, 28, 28], reconstructions.shape);
        using var levels = (reconstructions + 1) * 127.5;
        Assert.True(levels.allclose(levels.round(), rtol: 0, atol: 1e-4), "8-bit levels");
    }
}
