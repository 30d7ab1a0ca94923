using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

public class PMeanVarianceTests
{
    public static TheoryData<string> FixedOutputCases => GoldenDiffusion.CaseNames("p_mean_variance", withModel: false);

    [Theory, MemberData(nameof(FixedOutputCases))]
    public void PMeanVarianceOfAFixedModelOutputMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        using var scope = NewDisposeScope();
        Denoiser model = FixedOutput(c.Input("model_output"));
        var p = d.PMeanVariance(model, c.Input("x"), c.Input("t"), c.Config["clip_denoised"]!.GetValue<bool>());
        GoldenDiffusion.Check(c, "mean", p.Mean);
        GoldenDiffusion.Check(c, "variance", p.Variance);
        GoldenDiffusion.Check(c, "log_variance", p.LogVariance);
        GoldenDiffusion.Check(c, "pred_xstart", p.PredXStart);
    }

    static Denoiser FixedOutput(Tensor output) => (_, _) => output.alias();

    [Fact]
    public void ModelOutputWithTheWrongChannelCountFailsClearly()
    {
        var d = GaussianDiffusion.Create(new DiffusionOptions(Respacing: "10"));
        using var x = zeros(1, 4, 2, 2);
        using var t = tensor(new long[] { 3 });
        var e = Assert.Throws<ArgumentException>(() => d.PMeanVariance((xx, _) => xx.alias(), x, t, false));
        Assert.Contains("learned sigma", e.Message);
    }
}
