using System.Text.Json.Nodes;
using DiT.Diffusion;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>Builds what a golden case's config describes and compares its outputs.</summary>
static class GoldenDiffusion
{
    public static DiffusionOptions Options(JsonObject config) => new(
        Steps: config["diffusion_steps"]?.GetValue<int>() ?? 1000,
        Schedule: config["noise_schedule"]?.GetValue<string>() ?? "linear",
        Respacing: config["timestep_respacing"]?.GetValue<string>() ?? "",
        LearnSigma: config["learn_sigma"]?.GetValue<bool>() ?? true,
        SigmaSmall: config["sigma_small"]?.GetValue<bool>() ?? false,
        PredictXStart: config["predict_xstart"]?.GetValue<bool>() ?? false);

    public static GaussianDiffusion Diffusion(GoldenCase c) => GaussianDiffusion.Create(Options(c.Config));

    /// <summary>
    /// Checks an output against the case's tolerance; "exact" outputs must match element for element.
    /// <paramref name="expected"/> replaces the case's expected values (to show that a changed value fails).
    /// </summary>
    public static void Check(GoldenCase c, string output, Tensor actual, Tensor? expected = null)
    {
        expected ??= c.Expected(output);
        if (IsExact(c, output))
        {
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(actual.to(expected.dtype).eq(expected).all().item<bool>(), $"{c.Name}.{output} differs from the exact expected values.");
            return;
        }
        c.ToleranceOf(output).AssertClose(actual, expected, $"{c.Name}.{output}");
    }

    /// <summary>True for outputs that must be equal exactly (tolerance "exact": timesteps, maps, solver orders).</summary>
    public static bool IsExact(GoldenCase c, string output) => c.Output(output)["tolerance"] is JsonValue;

    /// <summary>A copy of a step's tensor (which dies with the step's scope) that lives in the test's scope.</summary>
    public static Tensor Keep(TorchSharp.DisposeScope scope, Tensor stepTensor)
    {
        var copy = stepTensor.clone();
        scope.Attach(copy);
        return copy;
    }

    public static Tensor Doubles(double[] values) => tensor(values, ScalarType.Float64);
    public static Tensor Longs(long[] values) => tensor(values, ScalarType.Int64);
}
