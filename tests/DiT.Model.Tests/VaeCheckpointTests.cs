using System.Text.Json.Nodes;
using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>Loading VAE checkpoints laid out as published: hub folders, fp16 files, metadata configs, bad files.</summary>
public sealed class VaeCheckpointTests : IDisposable
{
    readonly string _folder = Path.Combine(Path.GetTempPath(), $"vae-{Guid.NewGuid():N}");
    readonly GoldenCase _decode = Golden.Default.Case("vae_decode");

    public VaeCheckpointTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A diffusers-style config.json for the golden tiny VAE, with the fields diffusers adds that we ignore.</summary>
    string WriteHubConfig(string folder)
    {
        var config = _decode.Config.DeepClone().AsObject();
        config["_class_name"] = "AutoencoderKL";
        config["_diffusers_version"] = "0.4.2";
        config["latents_mean"] = null;
        config.Remove("use_quant_conv");                                         // defaults: true
        config.Remove("mid_block_add_attention");
        var path = Path.Combine(folder, "config.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    void AssertDecodesLikeReference(AutoencoderKL vae)
    {
        using var noGrad = no_grad();
        using var decoded = vae.Decode(_decode.Input("z"));
        _decode.ToleranceOf("decoded").AssertClose(decoded, _decode.Expected("decoded"), "decoded");
    }

    [Fact]
    public void HubFolderWithConfigJsonLoadsAndDecodesLikeReference()
    {
        File.Copy(VaeGolden.WeightsPath(_decode), Path.Combine(_folder, "diffusion_pytorch_model.safetensors"));
        WriteHubConfig(_folder);

        using var vae = AutoencoderKL.Load(_folder);

        Assert.Equal([32, 64], vae.Config.BlockOutChannels);
        Assert.Equal(16, vae.Config.NormNumGroups);
        Assert.True(vae.Config.UseQuantConv);
        Assert.Equal(2, vae.DownsampleFactor);
        Assert.Equal(0.18215, vae.ScalingFactor);
        Assert.False(vae.training);
        AssertDecodesLikeReference(vae);
    }

    [Fact]
    public void PipelineFolderWithTheVaeUnderVaeLoads()
    {
        var vaeFolder = Directory.CreateDirectory(Path.Combine(_folder, "vae")).FullName;
        File.Copy(VaeGolden.WeightsPath(_decode), Path.Combine(vaeFolder, "diffusion_pytorch_model.safetensors"));
        WriteHubConfig(vaeFolder);

        using var vae = AutoencoderKL.Load(_folder);

        AssertDecodesLikeReference(vae);
    }

    [Fact]
    public void Fp16HubFolderLoadsIntoFloat32Module()
    {
        var weights = Safetensors.Load(VaeGolden.WeightsPath(_decode));
        var half = weights.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float16));
        try
        {
            Safetensors.Save(Path.Combine(_folder, "diffusion_pytorch_model.fp16.safetensors"), half);
            WriteHubConfig(_folder);

            using var vae = AutoencoderKL.Load(_folder);

            foreach (var (key, tensor) in vae.state_dict())
            {
                Assert.Equal(ScalarType.Float32, tensor.dtype);
                using var expected = half[key].to(ScalarType.Float32);
                Assert.True(tensor.equal(expected).all().item<bool>(), $"{key} is not the fp16 value widened to fp32.");
            }
        }
        finally
        {
            StateDicts.DisposeAll(weights.Values.Concat(half.Values));
        }
    }

    [Fact]
    public void SingleSafetensorsFileReadsItsConfigFromMetadata()
    {
        using var vae = AutoencoderKL.Load(VaeGolden.WeightsPath(_decode));

        Assert.Equal(VaeGolden.Config(_decode).BlockOutChannels, vae.Config.BlockOutChannels);
        Assert.Equal(1, vae.Config.LayersPerBlock);
        Assert.Equal(32, vae.Config.SampleSize);
        AssertDecodesLikeReference(vae);
    }

    [Fact]
    public void LoadWithDtypeConvertsTheModule()
    {
        using var vae = AutoencoderKL.Load(VaeGolden.WeightsPath(_decode), CPU, ScalarType.Float64);

        Assert.All(vae.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        using var latents = randn(1, 4, 4, 4);
        using var images = vae.DecodeLatents(latents);
        Assert.Equal(ScalarType.Float64, images.dtype);
        Assert.Equal([1L, 3, 8, 8], images.shape);
    }

    [Fact]
    public void MismatchedCheckpointNamesEveryBadKey()
    {
        var weights = Safetensors.Load(VaeGolden.WeightsPath(_decode));
        try
        {
            var bad = new Dictionary<string, Tensor>(weights);
            bad.Remove("decoder.conv_out.bias");
            bad.Remove("encoder.mid_block.attentions.0.to_k.weight");
            bad["decoder.extra.weight"] = weights["decoder.conv_out.bias"];
            bad["quant_conv.weight"] = weights["post_quant_conv.weight"];
            using var vae = new AutoencoderKL(VaeGolden.Config(_decode));

            var error = Assert.Throws<CheckpointMismatchException>(() => vae.LoadStateDict(bad, "bad.safetensors"));

            Assert.Contains("bad.safetensors", error.Message);
            Assert.Contains("decoder.conv_out.bias", error.Message);
            Assert.Contains("encoder.mid_block.attentions.0.to_k.weight", error.Message);
            Assert.Contains("decoder.extra.weight", error.Message);
            Assert.Contains("quant_conv.weight: checkpoint [4, 4, 1, 1] vs model [8, 8, 1, 1]", error.Message);
        }
        finally
        {
            StateDicts.DisposeAll(weights.Values);
        }
    }

    [Fact]
    public void TensorUnderBothAttentionNamingsIsRejected()
    {
        var weights = Safetensors.Load(VaeGolden.WeightsPath(_decode));
        try
        {
            var both = new Dictionary<string, Tensor>(weights)
            {
                ["decoder.mid_block.attentions.0.query.weight"] = weights["decoder.mid_block.attentions.0.to_q.weight"],
            };
            using var vae = new AutoencoderKL(VaeGolden.Config(_decode));

            var error = Assert.Throws<InvalidDataException>(() => vae.LoadStateDict(both, "both.safetensors"));

            Assert.Contains("decoder.mid_block.attentions.0.to_q.weight", error.Message);
        }
        finally
        {
            StateDicts.DisposeAll(weights.Values);
        }
    }

    [Fact]
    public void CompVisLayoutIsRejectedWithAConversionHint()
    {
        using var vae = new AutoencoderKL(VaeGolden.Config(_decode));
        using var q = zeros(64, 64, 1, 1);

        var error = Assert.Throws<InvalidDataException>(() =>
            vae.LoadStateDict(new Dictionary<string, Tensor> { ["encoder.mid.attn_1.q.weight"] = q }, "ldm.safetensors"));

        Assert.Contains("CompVis", error.Message);
    }

    [Fact]
    public void FileWithoutAnyConfigSaysWhereTheConfigGoes()
    {
        var path = Path.Combine(_folder, "weights.safetensors");
        using var w = zeros(1);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = w });

        var error = Assert.Throws<InvalidDataException>(() => AutoencoderKL.Load(path));

        Assert.Contains("config.json", error.Message);
    }

    [Fact]
    public void FolderWithoutWeightsNamesTheExpectedFiles()
    {
        var error = Assert.Throws<FileNotFoundException>(() => AutoencoderKL.Load(_folder));

        Assert.Contains("diffusion_pytorch_model.safetensors", error.Message);
    }

    [Fact]
    public void ConfigJsonIgnoresUnknownFieldsAndAppliesDiffusersDefaults()
    {
        var config = AutoencoderKLConfig.FromJson("""{"block_out_channels": [8, 16], "norm_num_groups": 4, "force_upcast": true, "_class_name": "AutoencoderKL"}""", "test");

        Assert.Equal([8, 16], config.BlockOutChannels);
        Assert.Equal((1, 4, 4, 3, 3), (config.LayersPerBlock, config.LatentChannels, config.NormNumGroups, config.InChannels, config.OutChannels));
        Assert.True(config.UseQuantConv && config.UsePostQuantConv && config.MidBlockAddAttention);
        Assert.Equal(0.18215, config.ScalingFactor);
    }

    [Theory]
    [InlineData("""{"block_out_channels": [8, 16], "norm_num_groups": 4, "down_block_types": ["DownBlock2D", "DownEncoderBlock2D"]}""", "down_block_types")]
    [InlineData("""{"block_out_channels": [8, 16], "norm_num_groups": 4, "act_fn": "gelu"}""", "act_fn")]
    [InlineData("""{"block_out_channels": [8, 12], "norm_num_groups": 8}""", "norm_num_groups")]
    [InlineData("""{"norm_num_groups": 8}""", "block_out_channels")]
    [InlineData("""{"block_out_channels": [8], "norm_num_groups": 4, "shift_factor": 0.1159}""", "shift_factor")]
    [InlineData("""{"block_out_channels": "8", "norm_num_groups": 4}""", "wrong type")]
    public void UnsupportedConfigIsRejectedNamingTheField(string json, string field)
    {
        var error = Assert.Throws<InvalidDataException>(() => AutoencoderKLConfig.FromJson(json, "config.json"));

        Assert.Contains(field, error.Message);
        Assert.Contains("config.json", error.Message);
    }
}
