using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>Parity with the reference DiT, driven by the golden manifest (inputs are fetched before any dispose scope: the harness caches them).</summary>
public sealed class DiTGoldenTests
{
    public static TheoryData<string> TimestepCases => Golden.CaseNames("timestep_embedding");
    public static TheoryData<string> PosEmbedCases => Golden.CaseNames("pos_embed");
    public static TheoryData<string> ForwardCases => Golden.CaseNames("dit_forward");

    /// <summary>checkpoint_load cases with a PyTorch file (the VAE's key-rename case belongs to the VAE tests).</summary>
    public static TheoryData<string> TorchCheckpointCases
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (string name in Golden.CaseNames("checkpoint_load"))
            {
                if (name.StartsWith('<') || Golden.Default.Case(name).Node["weights"]?["torch_pt"] is not null) data.Add(name);
            }
            return data;
        }
    }

    [Theory, MemberData(nameof(TimestepCases))]
    public void TimestepEmbeddingMatchesReference(string caseName)
    {
        var c = Golden.Default.Case(caseName);
        var (t, expected) = (c.Input("t"), c.Expected("embedding"));
        using var scope = NewDisposeScope();
        var actual = DiTModel.TimestepEmbedding(t, c.Config["dim"]!.GetValue<int>(), c.Config["max_period"]!.GetValue<double>());
        Assert.Equal(ScalarType.Float32, actual.dtype);
        c.ToleranceOf("embedding").AssertClose(actual, expected, caseName);
    }

    [Theory, MemberData(nameof(PosEmbedCases))]
    public void PositionTableMatchesReferenceAsStoredInFloat32(string caseName)
    {
        var c = Golden.Default.Case(caseName);
        var expected = c.Expected("pos_embed");
        using var scope = NewDisposeScope();
        var table = DiTModel.SinCosPositionTable(c.Config["embed_dim"]!.GetValue<int>(), c.Config["grid_size"]!.GetValue<int>());
        c.ToleranceOf("pos_embed").AssertClose(table.to(ScalarType.Float32), expected, caseName);
    }

    [Theory, MemberData(nameof(ForwardCases))]
    public void ForwardFromSafetensorsMatchesReference(string caseName)
    {
        var c = Golden.Default.Case(caseName);
        using var model = DiTCheckpoint.Load(Golden.Default.PathOf(c.Node["weights"]!["safetensors"]!.GetValue<string>()));
        Assert.Equal(DiTConfig.FromJson(c.Config), model.Config);
        AssertForwardMatches(model, c, "out");
    }

    [Theory, MemberData(nameof(TorchCheckpointCases))]
    public void TorchCheckpointLoadsAndMatchesReference(string caseName)
    {
        var c = Golden.Default.Case(caseName);
        var config = DiTConfig.FromJson(c.Config);
        var ptPath = Golden.Default.PathOf(c.Node["weights"]!["torch_pt"]!.GetValue<string>());

        // A plain state dict with a safetensors twin: every tensor bit-identical, and the twin's forward case passes.
        if (c.Node["weights"]!["safetensors"]?.GetValue<string>() is { } twin)
        {
            var (fromPt, _) = DiTCheckpoint.ReadStateDict(ptPath);
            var fromSafetensors = Safetensors.Load(Golden.Default.PathOf(twin));
            try
            {
                Assert.Equal(fromSafetensors.Keys.Order(), fromPt.Keys.Order());
                foreach (var (key, expected) in fromSafetensors)
                {
                    Assert.Equal(expected.shape, fromPt[key].shape);
                    Assert.True(fromPt[key].equal(expected).all().item<bool>(), $"{key} differs between the .pt and the safetensors file.");
                }
            }
            finally { StateDicts.DisposeAll(fromPt.Values.Concat(fromSafetensors.Values)); }

            var forwardCase = Golden.Default.Manifest["cases"]!.AsArray()
                .Single(n => n!["kind"]!.GetValue<string>() == "dit_forward" && n["weights"]?["safetensors"]?.GetValue<string>() == twin)!;
            using var model = DiTCheckpoint.Load(ptPath, config: config);
            AssertForwardMatches(model, Golden.Default.Case(forwardCase["name"]!.GetValue<string>()), "out");
        }

        // A trainer checkpoint: outputs named out_<entry>; the default entry is the EMA one.
        foreach (var output in c.OutputNames.Where(o => o.StartsWith("out_", StringComparison.Ordinal)))
        {
            var entry = output["out_".Length..];
            using var model = DiTCheckpoint.Load(ptPath, config: config, entry: entry);
            Assert.Equal(config, model.Config);
            AssertForwardMatches(model, c, output);
        }
        if (c.HasOutput("out_ema"))
        {
            using var byDefault = DiTCheckpoint.Load(ptPath, config: config);
            AssertForwardMatches(byDefault, c, "out_ema");
        }
    }

    static void AssertForwardMatches(DiTModel model, GoldenCase c, string output)
    {
        var (x, t, y, expected) = (c.Input("x"), c.Input("t"), c.Input("y"), c.Expected(output));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var actual = model.forward(x, t, y);
        c.ToleranceOf(output).AssertClose(actual, expected, $"{c.Name}.{output}");
    }
}
