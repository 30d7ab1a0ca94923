using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

public sealed class DiTCheckpointTests
{
    static readonly DiTConfig Tiny = new(InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 32, Depth: 2, NumHeads: 2, NumClasses: 5);

    static string TempFile() => Path.Combine(Path.GetTempPath(), $"dit-{Guid.NewGuid():N}.safetensors");

    /// <summary>A model whose zero-initialised adaLN/final layers are perturbed so its outputs are not trivially zero.</summary>
    static DiTModel RandomModel(DiTConfig config, int seed)
    {
        manual_seed(seed);
        var model = new DiTModel(config);
        using var noGrad = no_grad();
        foreach (var p in model.parameters().Where(p => p.requires_grad))
            p.add_(randn_like(p) * 0.1);
        model.eval();
        return model;
    }

    static (Tensor X, Tensor T, Tensor Y) Inputs(DiTConfig config, int batch = 3)
    {
        manual_seed(7);
        return (randn(batch, config.InChannels, config.InputSize, config.InputSize),
                randint(0, 1000, [batch], dtype: ScalarType.Int64),
                randint(0, config.NumClasses + 1, [batch], dtype: ScalarType.Int64));
    }

    [Fact]
    public void SavedModelReloadsWithItsConfigAndIdenticalOutputs()
    {
        var path = TempFile();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var config = Tiny with { NumHeads = 4, LearnSigma = false, ClassDropoutProb = 0.25 };
            using var model = RandomModel(config, seed: 1);
            DiTCheckpoint.Save(model, path, new Dictionary<string, string> { ["note"] = "round trip" });
            Assert.Equal("round trip", Safetensors.ReadHeader(path).Metadata["note"]);

            using var reloaded = DiTCheckpoint.Load(path);
            Assert.Equal(config, reloaded.Config);
            Assert.False(reloaded.training);
            var (x, t, y) = Inputs(config);
            var expected = model.forward(x, t, y);
            Assert.True(expected.abs().max().item<float>() > 1e-3f, "the test model should not be trivially zero");
            Assert.True(reloaded.forward(x, t, y).equal(expected).all().item<bool>());
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void HalfPrecisionWeightsLoadIntoAFloat32Model(ScalarType stored)
    {
        var path = TempFile();
        try
        {
            using var scope = NewDisposeScope();
            using var model = RandomModel(Tiny, seed: 2);
            var half = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(stored));
            Safetensors.Save(path, half, new Dictionary<string, string> { [DiTCheckpoint.ConfigMetadataKey] = Tiny.ToJson() });

            using var loaded = DiTCheckpoint.Load(path);
            foreach (var (key, tensor) in loaded.state_dict())
            {
                Assert.Equal(ScalarType.Float32, tensor.dtype);
                Assert.True(tensor.equal(half[key].to(ScalarType.Float32)).all().item<bool>(), $"{key} was not converted exactly.");
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LoadConvertsToTheRequestedDtype()
    {
        var path = TempFile();
        try
        {
            using (var model = RandomModel(Tiny, seed: 3)) DiTCheckpoint.Save(model, path);
            using var loaded = DiTCheckpoint.Load(path, dtype: ScalarType.Float64);
            Assert.All(loaded.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void MismatchErrorNamesEveryMissingUnexpectedAndWrongShapedKey()
    {
        using var scope = NewDisposeScope();
        var c = Golden.Default.Case("dit_A_forward");
        var config = DiTConfig.FromJson(c.Config);
        int d = config.HiddenSize;
        string lastFc2Bias = $"blocks.{config.Depth - 1}.mlp.fc2.bias";
        var weights = Safetensors.Load(Golden.Default.PathOf(c.Node["weights"]!["safetensors"]!.GetValue<string>()));
        weights.Remove(lastFc2Bias);
        weights.Remove("final_layer.linear.weight");
        weights["blocks.0.attn.rel_pos"] = zeros(3);
        weights["blocks.0.attn.qkv.weight"] = zeros(3 * d - 1, d);
        weights["y_embedder.embedding_table.weight"] = zeros(config.NumClasses + 2, d);

        using var model = new DiTModel(config);
        var error = Assert.Throws<CheckpointMismatchException>(() => DiTCheckpoint.LoadStateDict(model, weights, "dit_A (edited)"));
        Assert.Equal([lastFc2Bias, "final_layer.linear.weight"], error.Missing.Order());
        Assert.Equal(["blocks.0.attn.rel_pos"], error.Unexpected);
        Assert.Equal(2, error.WrongShape.Count);
        foreach (var expected in new[] { "dit_A (edited)", lastFc2Bias, "final_layer.linear.weight", "blocks.0.attn.rel_pos",
                                         $"blocks.0.attn.qkv.weight: checkpoint [{3 * d - 1}, {d}] vs model [{3 * d}, {d}]", "y_embedder.embedding_table.weight" })
            Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void StoredConfigThatContradictsTheTensorsIsRejected()
    {
        var path = TempFile();
        try
        {
            using (var model = RandomModel(Tiny, seed: 4))
                Safetensors.Save(path, model.state_dict(), new Dictionary<string, string> { ["config"] = (Tiny with { Depth = 3 }).ToJson() });
            var error = Assert.Throws<InvalidDataException>(() => DiTCheckpoint.Load(path));
            Assert.Contains("contradicts", error.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void NonCheckpointFilesAreRejectedWithTheirPath()
    {
        var path = TempFile();
        File.WriteAllText(path, "definitely not weights, but long enough to have a header length");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => DiTCheckpoint.Load(path));
            Assert.Contains(path, error.Message);
            Assert.Throws<FileNotFoundException>(() => DiTCheckpoint.Load(path + ".missing"));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TrainerCheckpointWithAnUnknownEntryNamesTheEntriesItHas()
    {
        var error = Assert.Throws<InvalidDataException>(() => DiTCheckpoint.ReadStateDict(Golden.Default.PathOf("dit_train_checkpoint.pt"), "averaged"));
        Assert.Contains("ema", error.Message);
        Assert.Contains("model", error.Message);
    }
}
