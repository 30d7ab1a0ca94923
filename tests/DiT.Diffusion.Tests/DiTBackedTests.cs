using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>Golden cases that run the DiT A / B models through the diffusion code.</summary>
public class DiTBackedTests
{
    public static TheoryData<string> PMeanVarianceCases => GoldenDiffusion.CaseNames("p_mean_variance", withModel: true);
    public static TheoryData<string> DdimStepCases => Golden.CaseNames("ddim_sample");
    public static TheoryData<string> LossCases => Golden.CaseNames("training_losses");
    public static TheoryData<string> GuidanceCases => Golden.CaseNames("dit_forward_with_cfg");

    [Theory, MemberData(nameof(PMeanVarianceCases))]
    public void PMeanVarianceWithDiTMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var p = d.PMeanVariance(DiTModels.Conditional(c), c.Input("x"), c.Input("t"), c.Config["clip_denoised"]!.GetValue<bool>());
        GoldenDiffusion.Check(c, "mean", p.Mean);
        GoldenDiffusion.Check(c, "variance", p.Variance);
        GoldenDiffusion.Check(c, "log_variance", p.LogVariance);
        GoldenDiffusion.Check(c, "pred_xstart", p.PredXStart);
    }

    [Theory, MemberData(nameof(DdimStepCases))]
    public void DdimStepWithRecordedNoiseMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var r = d.DdimSample(DiTModels.Conditional(c), c.Input("x"), c.Input("t"), c.Input("noise"),
            c.Config["eta"]!.GetValue<double>(), c.Config["clip_denoised"]!.GetValue<bool>());
        GoldenDiffusion.Check(c, "sample", r.Sample);
        GoldenDiffusion.Check(c, "pred_xstart", r.PredXStart);
    }

    [Theory, MemberData(nameof(LossCases))]
    public void TrainingLossesMatchReferencePerSample(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var terms = d.TrainingLosses(DiTModels.Conditional(c), c.Input("x_start"), c.Input("t"), c.Input("noise"));
        GoldenDiffusion.Check(c, "loss", terms.Loss);
        GoldenDiffusion.Check(c, "mse", terms.Mse);
        Assert.Equal(c.HasOutput("vb"), terms.Vb is not null);
        if (terms.Vb is not null) GoldenDiffusion.Check(c, "vb", terms.Vb);
    }

    [Fact]
    public void TrainingLossesBackpropagateIntoTheModel()
    {
        var c = Golden.Default.Case("training_losses_dit_A");
        var d = GoldenDiffusion.Diffusion(c);
        var model = DiTModels.Load("dit_A_weights.safetensors");
        using var scope = NewDisposeScope();
        var y = c.Input("y");
        var parameter = model.parameters().First(p => p.requires_grad);
        var terms = d.TrainingLosses((x, t) => model.forward(x, t, y), c.Input("x_start"), c.Input("t"), c.Input("noise"));
        var grads = TorchSharp.torch.autograd.grad([terms.Loss.mean()], [parameter]);
        Assert.True(grads[0].abs().sum().item<float>() > 0);
    }

    [Theory, MemberData(nameof(GuidanceCases))]
    public void ReferenceGuidanceReproducesForwardWithCfg(string name)
    {
        var c = Golden.Default.Case(name);
        var model = DiTModels.Of(c);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (x, t, y) = (c.Input("x"), c.Input("t"), c.Input("y"));
        long half = x.shape[0] / 2; // reference layout: [cond half; null half], only the first half of x is read
        var guided = ClassifierFreeGuidance.Wrap(DiTModels.Forward(model), y.narrow(0, 0, half),
            full([half], c.Input("cfg_scale").item<double>()), model.Config.NumClasses, model.Config.InChannels, GuidanceMode.Reference);
        var output = guided(x.narrow(0, 0, half), t.narrow(0, 0, half));
        c.ToleranceOf("out").AssertClose(output, c.Expected("out").narrow(0, 0, half), $"{name}.out[:B/2]");
    }
}
