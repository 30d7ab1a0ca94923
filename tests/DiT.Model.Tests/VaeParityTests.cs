using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>AutoencoderKL against diffusers' float64 reference outputs, tolerances from the manifest.</summary>
public sealed class VaeParityTests
{
    public static TheoryData<string> DecodeCases => Golden.CaseNames("vae_decode");
    public static TheoryData<string> EncodeCases => Golden.CaseNames("vae_encode");

    [Theory, MemberData(nameof(DecodeCases))]
    public void DecodeMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        using var vae = VaeGolden.Load(c);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var expected = c.Expected("decoded");
        var tolerance = c.ToleranceOf("decoded");
        if (c.HasInput("z"))
        {
            tolerance.AssertClose(vae.Decode(c.Input("z").to(ScalarType.Float32)), expected, $"{name}.decoded");
            return;
        }
        // DiT sampler output: sample.py decodes samples / 0.18215; DecodeLatents does that division and clamps to [-1, 1].
        var samples = c.Input("samples").to(ScalarType.Float32);
        tolerance.AssertClose(vae.Decode(samples.div(vae.ScalingFactor)), expected, $"{name}.decoded");
        tolerance.AssertClose(vae.DecodeLatents(samples), expected.clamp(-1, 1), $"{name}.DecodeLatents");
    }

    [Theory, MemberData(nameof(EncodeCases))]
    public void EncodeMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        using var vae = VaeGolden.Load(c);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = c.Input("x");
        using var posterior = vae.Encode(x);
        var actual = new Dictionary<string, Func<Tensor>>
        {
            ["latent_mean"] = () => posterior.Mean,
            ["latent_logvar"] = () => posterior.LogVar,
            ["latent_std"] = () => posterior.Std,
            ["latent_var"] = () => posterior.Var,
            ["latent_sample"] = () => posterior.Sample(c.Input("sample_noise")),
            ["forward_mode"] = () => vae.forward(x),
        };
        foreach (var output in c.OutputNames)
        {
            Assert.True(actual.ContainsKey(output), $"{name} has output '{output}', which this test does not know how to compute.");
            c.ToleranceOf(output).AssertClose(actual[output](), c.Expected(output), $"{name}.{output}");
        }
    }

    [Fact]
    public void LegacyAttentionKeyNamesLoadTheSameWeights()
    {
        var c = Golden.Default.Case("vae_legacy_attention_key_names");
        var legacyFile = Golden.Default.PathOf(c.Node["weights"]!["legacy_subset"]!.GetValue<string>());
        var current = Safetensors.Load(VaeGolden.WeightsPath(c));
        var legacy = Safetensors.Load(legacyFile);
        try
        {
            Assert.Contains(legacy.Keys, k => k.EndsWith(".proj_attn.weight", StringComparison.Ordinal));
            // The legacy file replaces the current-named attention tensors.
            var mixed = current.Where(kv => !legacy.Keys.Select(AutoencoderKL.CurrentKeyName).Contains(kv.Key))
                .Concat(legacy).ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal(current.Count, mixed.Count);
            Assert.Contains(mixed.Keys, k => k.EndsWith(".query.weight", StringComparison.Ordinal));

            using var vae = VaeGolden.Load(c, mixed);
            foreach (var (key, tensor) in vae.state_dict())
                Assert.True(tensor.equal(current[key]).all().item<bool>(), $"{key} differs from {VaeGolden.WeightsPath(c)}.");

            var decode = Golden.Default.Case("vae_decode");
            using var noGrad = no_grad();
            using var decoded = vae.Decode(decode.Input("z"));
            decode.ToleranceOf("decoded").AssertClose(decoded, decode.Expected("decoded"), "decode with legacy-named weights");
        }
        finally
        {
            StateDicts.DisposeAll(current.Values.Concat(legacy.Values));
        }
    }
}
