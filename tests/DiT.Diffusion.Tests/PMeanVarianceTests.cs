using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

public class PMeanVarianceTests
{
    public static TheoryData<string> Cases => Golden.CaseNames("p_mean_variance");

    [Theory, MemberData(nameof(Cases))]
    public void PMeanVarianceMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Either a fixed model output, or DiT A / B (learned sigma / fixed large) with the case's labels.
        Denoiser model = c.HasInput("model_output") ? FixedOutput(c.Input("model_output")) : DiTModels.Conditional(c);
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
