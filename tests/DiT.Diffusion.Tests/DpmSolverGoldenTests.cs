using System.Text.Json.Nodes;
using DiT.Testing;
using TorchSharp;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>
/// DPM-Solver++(2M) against diffusers' DPMSolverMultistepScheduler driven by DiTPipeline (every dpmpp_2m_sample_loop
/// case): the golden DiT with all-channel guidance, learned-sigma channels dropped, the scheduler's config from the manifest.
/// </summary>
public class DpmSolverGoldenTests
{
    public static TheoryData<string> Cases => Golden.CaseNames("dpmpp_2m_sample_loop");

    [Theory, MemberData(nameof(Cases))]
    public void LoopMatchesDiffusersStepByStep(string name)
    {
        var c = Golden.Default.Case(name);
        using var scope = NewDisposeScope();
        var actual = Run(c, scope);
        foreach (var output in c.OutputNames) GoldenDiffusion.Check(c, output, actual[output]);
    }

    /// <summary>The comparison bites: a copy of the vectors with any one value moved just outside its tolerance fails.</summary>
    [Theory, MemberData(nameof(Cases))]
    public void ACopyWithOneValueChangedFails(string name)
    {
        var c = Golden.Default.Case(name);
        using var scope = NewDisposeScope();
        var actual = Run(c, scope);
        foreach (var output in c.OutputNames)
        {
            var changed = c.Expected(output).clone();
            long at = changed.numel() / 2;
            var flat = changed.view(-1);
            if (GoldenDiffusion.IsExact(c, output)) flat[at] = flat[at] + 1;
            else
            {
                var tolerance = c.ToleranceOf(output);
                double e = flat[at].item<double>(), bound = tolerance.Atol + tolerance.Rtol * Math.Abs(e);
                flat[at] = e + 3 * bound; // at least 2 bounds from any value within the tolerance of e
            }
            Assert.ThrowsAny<XunitException>(() => GoldenDiffusion.Check(c, output, actual[output], changed));
        }
    }

    /// <summary>Runs the case as DiTPipeline runs it and returns every output the manifest lists, keyed by name.</summary>
    static Dictionary<string, Tensor> Run(GoldenCase c, DisposeScope scope)
    {
        var model = DiTModels.Of(c);
        var dit = c.Config["dit"]!.AsObject();
        int n = c.Config["n_cond"]!.GetValue<int>(), steps = c.Config["num_inference_steps"]!.GetValue<int>();
        int channels = dit["in_channels"]!.GetValue<int>();
        long nullClass = dit["num_classes"]!.GetValue<long>();
        double scale = c.Config["cfg_scale"]!.GetValue<double>();
        bool guided = c.Config["classifier_free_guidance"]!.GetValue<bool>();
        Assert.Equal(scale > 1, guided); // DiTPipeline guides when guidance_scale > 1, strictly
        Assert.Equal(steps, c.Input("num_inference_steps").item<long>());
        Assert.Equal(scale, c.Input("cfg_scale").item<double>());

        var (z, y) = (c.Input("z"), c.Input("y"));
        var (x, classes) = (z.narrow(0, 0, n), y.narrow(0, 0, n));
        if (guided) // the pipeline's batch is [x; x] with labels [y; null]; both halves stay equal
        {
            Assert.True(z.narrow(0, n, n).equal(x).all().item<bool>(), "z is cat([latents, latents])");
            Assert.True(y.narrow(0, n, n).eq(nullClass).all().item<bool>(), "the second half's labels are the null class");
        }
        var diffusion = SchedulerOptions(c.Config["scheduler"]!.AsObject()) with { LearnSigma = dit["learn_sigma"]!.GetValue<bool>() };
        var settings = new SamplerSettings(SamplerKind.DpmSolverPP2M, steps);
        var guidance = ClassifierFreeGuidance.Wrap(DiTModels.Forward(model), classes, full([n], scale), nullClass, channels, GuidanceMode.AllChannels);

        var outputs = new List<Tensor>();
        var samples = new List<Tensor>();
        var predictions = new List<Tensor>();
        Denoiser recording = (xs, ts) =>
        {
            var output = guidance(xs, ts);
            outputs.Add(GoldenDiffusion.Keep(scope, output.narrow(1, 0, channels)));
            return output;
        };
        var final = Sampling.Sample(recording, x, settings, (_, _) => throw new XunitException("DPM-Solver++ draws no noise."),
            diffusion: diffusion, onIntermediate: (_, s, p) => { samples.Add(GoldenDiffusion.Keep(scope, s)); predictions.Add(GoldenDiffusion.Keep(scope, p)); });

        var sampler = new Sampler(settings, diffusion);
        var solver = sampler.Diffusion.DpmSolver;
        Tensor Batch(Tensor rows, int dim = 0) => guided ? cat([rows, rows], dim) : rows; // the pipeline's whole batch
        var actual = new Dictionary<string, Tensor>
        {
            ["final"] = Batch(final),
            ["final_cond"] = final,
            ["intermediate_samples"] = Batch(stack(samples), 1),
            ["intermediate_pred_xstart"] = Batch(stack(predictions), 1),
            ["intermediate_model_output"] = Batch(stack(outputs), 1),
            ["timesteps"] = GoldenDiffusion.Longs(Enumerable.Range(0, steps).Select(k => sampler.Diffusion.TimestepMap[sampler.IndexOfStep(k)]).ToArray()),
            ["solver_order"] = GoldenDiffusion.Longs(Enumerable.Range(0, steps).Select(k => (long)solver.Coefficients(sampler.IndexOfStep(k), hasPrevious: k > 0).Order).ToArray()),
            ["sigmas"] = tensor(solver.Sigmas),
            ["alpha_t"] = tensor(solver.AlphaT),
            ["sigma_t"] = tensor(solver.SigmaT),
            ["lambda_t"] = tensor(solver.Lambda),
        };
        foreach (var output in c.OutputNames)
            if (!actual.ContainsKey(output)) throw new XunitException($"{c.Name} has an output '{output}' this test does not know.");
        return actual;
    }

    /// <summary>
    /// The process a DPMSolverMultistepScheduler config describes; every field must be one this port implements
    /// (an unknown field or value fails rather than being ignored).
    /// </summary>
    static DiffusionOptions SchedulerOptions(JsonObject scheduler)
    {
        var implemented = new Dictionary<string, string?>
        {
            ["class"] = "DPMSolverMultistepScheduler", ["beta_schedule"] = "linear", ["algorithm_type"] = "dpmsolver++",
            ["solver_order"] = "2", ["solver_type"] = "midpoint", ["prediction_type"] = "epsilon", ["thresholding"] = "false",
            ["lower_order_final"] = "true", ["final_sigmas_type"] = "zero", ["timestep_spacing"] = "linspace",
            ["use_karras_sigmas"] = "false", ["variance_type"] = null, ["euler_at_final"] = "false",
        };
        int trainSteps = scheduler["num_train_timesteps"]!.GetValue<int>();
        var betas = BetaSchedules.Linear(trainSteps);
        foreach (var (key, value) in scheduler)
        {
            if (key == "num_train_timesteps") continue;
            if (key == "beta_start") Assert.Equal(value!.GetValue<double>(), betas[0], 12);
            else if (key == "beta_end") Assert.Equal(value!.GetValue<double>(), betas[^1], 12);
            else if (implemented.TryGetValue(key, out var expected)) Assert.Equal(expected, value is JsonValue v && v.TryGetValue<string>(out var text) ? text : value?.ToJsonString());
            else throw new XunitException($"Scheduler config field '{key}' is not implemented by this port.");
        }
        return new DiffusionOptions(Steps: trainSteps, Schedule: scheduler["beta_schedule"]!.GetValue<string>());
    }
}
