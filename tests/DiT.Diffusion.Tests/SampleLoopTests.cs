using DiT.Model;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>Whole DDPM / DDIM loops with DiT A and sample.py's guidance, replaying the reference's per-step noise.</summary>
public class SampleLoopTests
{
    public static TheoryData<string> Cases => Golden.CaseNames("ddpm_sample_loop", "ddim_sample_loop");

    [Theory, MemberData(nameof(Cases))]
    public void GuidedLoopReplayingRecordedNoiseMatchesReference(string name)
    {
        var c = Golden.Default.Case(name);
        var model = DiTModels.Of(c);
        var prefix = c.Kind == "ddpm_sample_loop" ? "ddpm" : "ddim";
        var settings = new SamplerSettings(prefix == "ddpm" ? SamplerKind.Ddpm : SamplerKind.Ddim,
            c.Config["num_steps"]!.GetValue<int>(), c.Config["eta"]?.GetValue<double>() ?? 0, c.Config["clip_denoised"]!.GetValue<bool>(),
            Respacing: c.Config["timestep_respacing"]!.GetValue<string>());
        using var scope = NewDisposeScope();
        var (z, y, noise) = (c.Input("z"), c.Input("y"), c.Input("noise"));
        var samples = new List<Tensor>();
        var predictions = new List<Tensor>();
        var final = Sampling.Sample(SampleDotPyGuidance(model, y, c.Input("cfg_scale").item<double>()), z, settings,
            (k, _) => noise[k], onIntermediate: (_, s, p) => { samples.Add(GoldenDiffusion.Keep(scope, s)); predictions.Add(GoldenDiffusion.Keep(scope, p)); });

        GoldenDiffusion.Check(c, "timestep_map", GoldenDiffusion.Longs(new Sampler(settings).Diffusion.TimestepMap));
        GoldenDiffusion.Check(c, "final", final);
        GoldenDiffusion.Check(c, "final_cond", final.narrow(0, 0, c.Config["n_cond"]!.GetValue<int>()));
        GoldenDiffusion.Check(c, "intermediate_samples", stack(samples));
        GoldenDiffusion.Check(c, "intermediate_pred_xstart", stack(predictions));
    }

    /// <summary>
    /// forward_with_cfg over sample.py's whole batch [cond; null]: the cond half is our Reference-mode wrapper; the null
    /// half gets the same guided channels [:3] and, unguided, the null-class output at x[:B/2] (what the reference returns there).
    /// </summary>
    static Denoiser SampleDotPyGuidance(DiTModel model, Tensor y, double scale)
    {
        long half = y.shape[0] / 2;
        var (condY, nullY) = (y.narrow(0, 0, half), y.narrow(0, half, half));
        var guided = ClassifierFreeGuidance.Wrap(DiTModels.Forward(model), condY, full([half], scale),
            model.Config.NumClasses, model.Config.InChannels, GuidanceMode.Reference);
        return (x, t) =>
        {
            var xCond = x.narrow(0, 0, half);
            var cond = guided(xCond, t.narrow(0, 0, half));
            var nullRows = model.forward(xCond, t.narrow(0, half, half), nullY);
            var nullHalf = cat([cond.narrow(1, 0, 3), nullRows.narrow(1, 3, nullRows.shape[1] - 3)], 1);
            return cat([cond, nullHalf], 0);
        };
    }
}
