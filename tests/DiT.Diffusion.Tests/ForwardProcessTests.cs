using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

public class ForwardProcessTests
{
    public static TheoryData<string> Cases => Golden.CaseNames("q_sample");

    [Theory, MemberData(nameof(Cases))]
    public void QSampleAndPosteriorMatchReference(string name)
    {
        var c = Golden.Default.Case(name);
        var d = GoldenDiffusion.Diffusion(c);
        using var scope = NewDisposeScope();
        var (x0, t, noise) = (c.Input("x_start"), c.Input("t"), c.Input("noise"));
        var xT = d.QSample(x0, t, noise);
        var (mean, variance, logVariance) = d.QMeanVariance(x0, t);
        var (pMean, pVariance, pLogVariance) = d.QPosteriorMeanVariance(x0, xT, t);
        GoldenDiffusion.Check(c, "x_t", xT);
        GoldenDiffusion.Check(c, "q_mean", mean);
        GoldenDiffusion.Check(c, "q_variance", variance);
        GoldenDiffusion.Check(c, "q_log_variance", logVariance);
        GoldenDiffusion.Check(c, "posterior_mean", pMean);
        GoldenDiffusion.Check(c, "posterior_variance", pVariance);
        GoldenDiffusion.Check(c, "posterior_log_variance_clipped", pLogVariance);
    }

    [Fact]
    public void TimestepsOutsideTheProcessAreRejected()
    {
        var d = GaussianDiffusion.Create(new DiffusionOptions(Respacing: "25"));
        using var x = zeros(2, 4, 2, 2);
        using var t = tensor(new long[] { 0, 25 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => d.QSample(x, t, x));
        Assert.Contains("[0, 25)", e.Message);
    }
}
