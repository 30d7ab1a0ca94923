using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>
/// Orders of accuracy on an analytic model, where the exact answer is known: data x0 ~ N(mu, s^2 I). For
/// x_t = a x0 + sigma eps (a = sqrt(abar), sigma = sqrt(1 - abar)) the exact noise prediction is
/// eps*(x, t) = (x - a mu) sigma / (a^2 s^2 + sigma^2), and the probability-flow ODE is linear per element:
/// from x_T = a_T mu + sqrt(a_T^2 s^2 + sigma_T^2) z it passes through x_t = a_t mu + sqrt(a_t^2 s^2 + sigma_t^2) z.
/// <para>
/// The grids are DPM-Solver++'s own (diffusers' linspace spacing). With 10, 20, 40 and 80 steps they are nested
/// (k * 999 / N), so t = 100, the last model time of the 10-step grid, is on all of them: the error is measured
/// there, where both samplers arrive after integrating the same stretch [100, 999] with halved steps. (Their last
/// step, to the data, returns the data prediction at their own last model time; that time shrinks with N, and near
/// t = 0 lambda = -log(sigma / a) is so steep that the last stretch does not shrink with N: no order shows there.)
/// s = 0.25 is a case in the asymptotic range at these N: for some other (s, t) the second-order error term changes
/// sign between 80 and 160 steps (s = 0.5 at t = 100), and 10..80 steps then measure the third-order term.
/// </para>
/// </summary>
public class OrderOfAccuracyTests(ITestOutputHelper output)
{
    const double Mu = 0.3, S = 0.25;
    const int Rows = 64;
    static readonly int[] StepCounts = [10, 20, 40, 80];

    public static TheoryData<SamplerKind, double> Cases => new() { { SamplerKind.Ddim, 1 }, { SamplerKind.DpmSolverPP2M, 2 } };

    [Theory, MemberData(nameof(Cases))]
    public void ErrorShrinksAsTheStepToThePowerOfTheSamplersOrder(SamplerKind kind, double order)
    {
        using var scope = NewDisposeScope();
        var options = new DiffusionOptions(LearnSigma: false);
        var abar = GaussianDiffusion.Create(options).AlphasCumprod;                       // base schedule, per original timestep
        var z = randn([Rows], ScalarType.Float64, generator: new Generator(11));
        var xT = Exact(abar, abar.Length - 1, z).view(Rows, 1, 1, 1);
        long end = Respacing.Linspace(abar.Length, StepCounts[0])[0];
        var target = Exact(abar, end, z);
        var errors = new List<double>();
        foreach (int n in StepCounts)
        {
            var settings = new SamplerSettings(kind, n, Respacing: $"linspace{n}");
            var sampler = new Sampler(settings, options);
            int arrival = Array.IndexOf(sampler.Diffusion.TimestepMap, end);                 // the index whose x is x_end
            Assert.True(arrival >= 0, $"t = {end} must be a model time of the {n}-step grid");
            double error = double.NaN;
            using var final = Sampling.Sample(Eps(abar), xT, settings, (_, like) => zeros_like(like), diffusion: options,
                onIntermediate: (k, sample, _) =>
                {
                    if (sampler.IndexOfStep(k) - 1 == arrival) error = (sample.view(Rows) - target).abs().max().item<double>();
                });
            errors.Add(error);
            output.WriteLine($"{kind}, {n} steps: max |x_{end} - exact| = {error:g4}");
        }
        double slope = -Slope(StepCounts.Select(n => Math.Log(n)).ToArray(), errors.Select(e => Math.Log(e)).ToArray());
        output.WriteLine($"{kind}: measured order (slope of -log error vs log steps) {slope:F2}");
        Assert.InRange(slope, order - 0.3, order + 0.3);
    }

    /// <summary>x_t on the exact probability-flow ODE path through x_T = a_T mu + sqrt(a_T^2 s^2 + sigma_T^2) z.</summary>
    static Tensor Exact(double[] abar, long t, Tensor z) => Math.Sqrt(abar[t]) * Mu + Math.Sqrt(abar[t] * S * S + 1 - abar[t]) * z;

    /// <summary>The exact epsilon of Gaussian data at ORIGINAL timestep t, in float64.</summary>
    static Denoiser Eps(double[] abar) => (x, t) =>
    {
        var a = tensor(t.data<long>().Select(i => abar[i]).ToArray(), ScalarType.Float64).view(-1, 1, 1, 1);
        var sigma = (1 - a).sqrt();
        return (x - a.sqrt() * Mu) * sigma / (a * S * S + sigma * sigma);
    };

    static double Slope(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average();
        return x.Zip(y).Sum(p => (p.First - mx) * (p.Second - my)) / x.Sum(v => (v - mx) * (v - mx));
    }
}
