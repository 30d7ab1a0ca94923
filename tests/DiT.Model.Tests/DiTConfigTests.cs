using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

public sealed class DiTConfigTests
{
    public static TheoryData<string> PresetNames => new(DiTConfig.Presets.Keys);

    [Fact]
    public void XL2At256HasThePapersParameterCountAndGflops()
    {
        var xl = DiTConfig.Preset("DiT-XL/2");
        Assert.Equal(675_129_632, xl.ParameterCount());
        Assert.Equal(118.6, Math.Round(xl.Gflops(), 1));
    }

    [Theory]
    [InlineData("DiT-S/2", 6.06)]
    [InlineData("DiT-B/2", 23.01)]
    [InlineData("DiT-L/2", 80.71)]
    [InlineData("DiT-XL/4", 29.05)]
    [InlineData("DiT-S/8", 0.36)]
    public void PresetGflopsMatchThePapersTable(string name, double paperGflops) =>
        Assert.Equal(paperGflops, DiTConfig.Preset(name).Gflops(), 0.015 * paperGflops);

    [Theory]
    [InlineData(8, 2, 64, 2, 10, 0.1, true)]
    [InlineData(16, 4, 96, 3, 7, 0.0, false)]
    public void ParameterCountFormulaCountsEveryModelParameter(int input, int patch, int hidden, int depth, int classes, double dropout, bool learnSigma)
    {
        var config = new DiTConfig(input, patch, 4, hidden, depth, 2, 4.0, dropout, classes, learnSigma);
        using var model = new DiTModel(config);
        Assert.Equal(model.parameters().Sum(p => p.numel()), config.ParameterCount());
    }

    [Fact]
    public void PresetsCoverTheTwelvePaperModels()
    {
        Assert.Equal(12, DiTConfig.Presets.Count);
        var xl8 = DiTConfig.Preset("DiT-XL/8");
        Assert.Equal((28, 1152, 16, 8, 32, 1000, 8), (xl8.Depth, xl8.HiddenSize, xl8.NumHeads, xl8.PatchSize, xl8.InputSize, xl8.NumClasses, xl8.OutChannels));
        Assert.Equal((12, 384, 6), (DiTConfig.Preset("dit-s/4").Depth, DiTConfig.Preset("DiT-S/4").HiddenSize, DiTConfig.Preset("DiT-S/4").NumHeads));
        Assert.Equal((12, 768, 12), (DiTConfig.Preset("DiT-B/2").Depth, DiTConfig.Preset("DiT-B/2").HiddenSize, DiTConfig.Preset("DiT-B/2").NumHeads));
        Assert.Equal((24, 1024, 16), (DiTConfig.Preset("DiT-L/2").Depth, DiTConfig.Preset("DiT-L/2").HiddenSize, DiTConfig.Preset("DiT-L/2").NumHeads));
    }

    [Fact]
    public void UnknownPresetErrorListsTheKnownNames()
    {
        var error = Assert.Throws<ArgumentException>(() => DiTConfig.Preset("DiT-XXL/2"));
        Assert.Contains("DiT-XXL/2", error.Message);
        Assert.Contains("DiT-S/2", error.Message);
        Assert.Contains("DiT-XL/8", error.Message);
    }

    [Fact]
    public void PresetOverridesApplyAndInconsistentSizesAreRejected()
    {
        var custom = DiTConfig.Preset("DiT-B/4", inputSize: 64, numClasses: 10, inChannels: 3, learnSigma: false);
        Assert.Equal((64, 10, 3, 3), (custom.InputSize, custom.NumClasses, custom.InChannels, custom.OutChannels));
        var error = Assert.Throws<ArgumentException>(() => DiTConfig.Preset("DiT-B/4", inputSize: 30));
        Assert.Contains("input size 30", error.Message);
    }

    [Fact]
    public void JsonRoundTripsAndReadsTheReferenceKeywordNames()
    {
        var config = new DiTConfig(16, 4, 3, 96, 5, 4, 2.5, 0.0, 17, false);
        Assert.Equal(config, DiTConfig.FromJson(config.ToJson()));
        var golden = Golden.Default.Case("dit_B_forward").Config;
        Assert.Equal(new DiTConfig(16, 4, 4, 96, 2, 4, 4.0, 0.1, 10, false), DiTConfig.FromJson(golden.ToJsonString()));
        Assert.Throws<FormatException>(() => DiTConfig.FromJson("{\"patch_size\": 2}"));
    }

    [Theory, MemberData(nameof(PresetNames))]
    public void PresetConfigIsInferredFromItsWeightsAlone(string name)
    {
        // A one-block copy of the preset at a tiny input keeps the test cheap; the real depth is checked on a
        // state dict that repeats that block's tensors under every block index (no extra memory).
        var preset = DiTConfig.Preset(name);
        var small = preset with { InputSize = 2 * preset.PatchSize, Depth = 1 };
        var path = Path.Combine(Path.GetTempPath(), $"dit-{Guid.NewGuid():N}.safetensors");
        try
        {
            using (var model = new DiTModel(small))
                Safetensors.Save(path, model.state_dict());               // no config metadata: shapes only
            using (var reloaded = DiTCheckpoint.Load(path))
                Assert.Equal(small, reloaded.Config);

            var (weights, stored) = DiTCheckpoint.ReadStateDict(path);
            Assert.Null(stored);
            var fullDepth = new Dictionary<string, Tensor>(weights.Where(kv => !kv.Key.StartsWith("blocks.", StringComparison.Ordinal)));
            foreach (var (key, tensor) in weights.Where(kv => kv.Key.StartsWith("blocks.0.", StringComparison.Ordinal)))
                for (int i = 0; i < preset.Depth; i++) fullDepth[$"blocks.{i}.{key["blocks.0.".Length..]}"] = tensor;
            var sized = new Dictionary<string, Tensor>(fullDepth) { ["pos_embed"] = empty(1, preset.NumTokens, preset.HiddenSize) };
            Assert.Equal(preset, DiTCheckpoint.InferConfig(sized));
            StateDicts.DisposeAll(weights.Values.Append(sized["pos_embed"]));
        }
        finally { File.Delete(path); }
    }
}
