using System.Text.Json.Nodes;
using DiT.Testing;
using TorchSharp;

namespace DiT.Model.Tests;

/// <summary>The module's state-dict names and shapes are those of the published diffusers checkpoints.</summary>
public sealed class VaeArchitectureTests
{
    static JsonObject RealArchitecture => Golden.Default.Manifest["sd_vae_ft_mse_architecture"]!.AsObject();

    static string[] Describe(IEnumerable<(string Key, long[] Shape)> entries) =>
        entries.Select(e => $"{e.Key} [{string.Join(", ", e.Shape)}]").Order(StringComparer.Ordinal).ToArray();

    static string[] Describe(torch.nn.Module module) =>
        Describe(module.state_dict().Select(kv => (kv.Key, kv.Value.shape)));

    [Fact]
    public void RealSdVaeFtMseConfigHasThePublishedKeysAndShapes()
    {
        var real = RealArchitecture;
        var config = AutoencoderKLConfig.FromJson(real["config"]!.ToJsonString(), "sd_vae_ft_mse_architecture");
        Assert.Equal(AutoencoderKLConfig.SdVaeFtMse.BlockOutChannels, config.BlockOutChannels);
        Assert.Equal(AutoencoderKLConfig.SdVaeFtMse with { BlockOutChannels = config.BlockOutChannels }, config);
        var expected = real["state_dict"]!.AsArray()
            .Select(e => (e![0]!.GetValue<string>(), e[1]!.AsArray().Select(d => d!.GetValue<long>()).ToArray())).ToList();
        Assert.Equal(real["num_tensors"]!.GetValue<int>(), expected.Count);

        using var vae = new AutoencoderKL(AutoencoderKLConfig.SdVaeFtMse);

        Assert.Equal(Describe(expected), Describe(vae));
        Assert.Equal(real["num_parameters"]!.GetValue<long>(), vae.parameters().Sum(p => p.numel()));
        Assert.Equal(8, vae.DownsampleFactor);
    }

    [Fact]
    public void LegacyAttentionNamesOfTheRealCheckpointMapOntoTheModuleKeys()
    {
        var real = RealArchitecture;
        var currentToLegacy = real["legacy_attention_key_map"]!.AsObject()
            .ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>().Split(' ')[0]);   // "group_norm.weight (unchanged)"
        var keys = real["state_dict"]!.AsArray().Select(e => e![0]!.GetValue<string>()).ToList();
        var legacy = keys.Select(k => ToLegacy(k, currentToLegacy)).ToList();
        Assert.Equal(16, legacy.Count(k => k.Contains(".query.") || k.Contains(".key.") || k.Contains(".value.") || k.Contains(".proj_attn.")));

        Assert.Equal(keys, legacy.Select(AutoencoderKL.CurrentKeyName));
    }

    static string ToLegacy(string key, Dictionary<string, string> currentToLegacy)
    {
        const string marker = ".mid_block.attentions.0.";
        int at = key.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return key;
        var prefix = key[..(at + marker.Length)];
        return prefix + currentToLegacy[key[prefix.Length..]];
    }

    [Fact]
    public void TinyGoldenConfigHasTheKeysAndShapesOfItsWeightsFile()
    {
        var files = Golden.Default.Manifest["files"]!["vae_weights.safetensors"]!.AsObject();
        var expected = files.Select(kv => (kv.Key, kv.Value!["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray()));

        using var vae = new AutoencoderKL(VaeGolden.Config(Golden.Default.Case("vae_decode")));

        Assert.Equal(Describe(expected), Describe(vae));
    }

    [Fact]
    public void WithoutQuantConvsOrMidAttentionThoseKeysAreAbsent()
    {
        using var vae = new AutoencoderKL(new AutoencoderKLConfig([8, 16], NormNumGroups: 4,
            UseQuantConv: false, UsePostQuantConv: false, MidBlockAddAttention: false));

        var keys = vae.state_dict().Keys.ToList();

        Assert.DoesNotContain(keys, k => k.Contains("quant_conv") || k.Contains("attentions"));
        Assert.Contains("decoder.mid_block.resnets.1.conv2.weight", keys);
    }
}
