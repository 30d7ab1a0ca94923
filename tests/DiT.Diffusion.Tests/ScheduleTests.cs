using DiT.Diffusion;
using DiT.Testing;

namespace DiT.Diffusion.Tests;

public class ScheduleTests
{
    public static TheoryData<string> Cases => Golden.CaseNames("diffusion_schedule");

    [Theory, MemberData(nameof(Cases))]
    public void ScheduleTablesMatchReference(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        Assert.Equal(c.Config["num_timesteps"]!.GetValue<int>(), d.NumTimesteps);
        var tables = new Dictionary<string, double[]>
        {
            ["betas"] = d.Betas,
            ["alphas_cumprod"] = d.AlphasCumprod,
            ["alphas_cumprod_prev"] = d.AlphasCumprodPrev,
            ["alphas_cumprod_next"] = d.AlphasCumprodNext,
            ["sqrt_alphas_cumprod"] = d.SqrtAlphasCumprod,
            ["sqrt_one_minus_alphas_cumprod"] = d.SqrtOneMinusAlphasCumprod,
            ["log_one_minus_alphas_cumprod"] = d.LogOneMinusAlphasCumprod,
            ["sqrt_recip_alphas_cumprod"] = d.SqrtRecipAlphasCumprod,
            ["sqrt_recipm1_alphas_cumprod"] = d.SqrtRecipm1AlphasCumprod,
            ["posterior_variance"] = d.PosteriorVariance,
            ["posterior_log_variance_clipped"] = d.PosteriorLogVarianceClipped,
            ["posterior_mean_coef1"] = d.PosteriorMeanCoef1,
            ["posterior_mean_coef2"] = d.PosteriorMeanCoef2,
        };
        foreach (var output in c.OutputNames)
        {
            if (output == "timestep_map") GoldenDiffusion.Check(c, output, GoldenDiffusion.Longs(d.TimestepMap));
            else GoldenDiffusion.Check(c, output, GoldenDiffusion.Doubles(tables.TryGetValue(output, out var v) ? v
                : throw new Xunit.Sdk.XunitException($"{name} has an output '{output}' this test does not know.")));
        }
    }

    [Fact]
    public void Respacing25KeepsTiesRoundedToEven()
    {
        var steps = Respacing.Space(1000, "25");
        Assert.Equal(25, steps.Length);
        Assert.Contains(166, steps);
        Assert.Contains(832, steps);
        Assert.DoesNotContain(167, steps);
        Assert.DoesNotContain(833, steps);
        Assert.Equal(0, steps[0]);
        Assert.Equal(999, steps[^1]);
    }

    [Fact]
    public void RespacingSectionsRoundTiesToEven() => Assert.Contains(166, Respacing.Space(1000, "5,10,15"));

    [Theory]
    [InlineData("ddim25", 25, 40)]
    [InlineData("ddim10", 10, 100)]
    [InlineData("ddim50", 50, 20)]
    public void DdimRespacingIsAFixedStrideThatNeverReachesTheLastStep(string spec, int count, int stride)
    {
        var steps = Respacing.Space(1000, spec);
        Assert.Equal(Enumerable.Range(0, count).Select(i => i * stride), steps);
        Assert.DoesNotContain(999, steps);
    }

    [Theory]
    [InlineData(10, new[] { 100, 200, 300, 400, 500, 599, 699, 799, 899, 999 })]
    [InlineData(8, new[] { 125, 250, 375, 500, 624, 749, 874, 999 })]
    public void LinspaceRespacingIsDiffusersDpmSolverSpacingWithoutZero(int count, int[] expected) =>
        Assert.Equal(expected, Respacing.Space(1000, $"linspace{count}"));

    [Fact]
    public void LinspaceRespacingRoundsTiesToEvenAndRefusesRepeatedTimesteps()
    {
        var twelve = Respacing.Linspace(1000, 12);                                     // 166.5 and 832.5 are exact ties
        Assert.Contains(166, twelve);
        Assert.Contains(832, twelve);
        Assert.Equal(999, Respacing.Linspace(1000, 999).Length);
        Assert.Contains("at most 999", Assert.Throws<ArgumentException>(() => Respacing.Space(1000, "linspace1000")).Message);
    }

    [Fact]
    public void EmptyRespacingKeepsEveryStep() => Assert.Equal(Enumerable.Range(0, 1000), Respacing.Space(1000, ""));

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("2000")]
    [InlineData("ddim600")]
    [InlineData("10,,20")]
    public void InvalidRespacingFailsWithAClearMessage(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => Respacing.Space(1000, spec));
        Assert.Contains("espacing", e.Message);
    }

    [Fact]
    public void RespacedModelTimestepsAreTheOriginalOnes()
    {
        var d = GaussianDiffusion.Create(new DiffusionOptions(Respacing: "10"));
        using var t = TorchSharp.torch.tensor(new long[] { 0, 5, 9 });
        using var original = d.ModelTimesteps(t);
        Assert.Equal(new long[] { 0, 555, 999 }, original.data<long>().ToArray());
    }

    [Fact]
    public void CosineScheduleStaysInRangeAndDecreasesAlphaBar()
    {
        var d = GaussianDiffusion.Create(new DiffusionOptions(Schedule: "cosine"));
        Assert.All(d.Betas, b => Assert.InRange(b, 1e-6, 0.999));
        Assert.True(d.AlphasCumprod.Zip(d.AlphasCumprod.Skip(1)).All(p => p.Second < p.First));
        Assert.Throws<ArgumentException>(() => GaussianDiffusion.Create(new DiffusionOptions(Schedule: "quadratic")));
    }
}
