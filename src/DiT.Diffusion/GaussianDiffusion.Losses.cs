using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion;

/// <summary>Per-sample training loss terms, each (N): loss = mse + vb; Vb is null without learned sigma.</summary>
public sealed record LossTerms(Tensor Loss, Tensor Mse, Tensor? Vb);

public sealed partial class GaussianDiffusion
{
    /// <summary>Uniform timestep indices in [0, NumTimesteps) for a training batch.</summary>
    public Tensor SampleTimesteps(long batchSize, Device? device = null, Generator? generator = null) =>
        randint(0, NumTimesteps, [batchSize], ScalarType.Int64, device, generator: generator);

    /// <summary>
    /// DiT's training loss (loss_type MSE): mse between the noise and the predicted epsilon, plus, with learned sigma,
    /// the variational bound term in bits with the epsilon half detached (the decoder NLL where t == 0).
    /// </summary>
    public LossTerms TrainingLosses(Denoiser model, Tensor xStart, Tensor t, Tensor? noise = null, Generator? generator = null)
    {
        if (Options.PredictXStart) throw new NotSupportedException("Training losses are implemented for epsilon prediction only (DiT's setting).");
        var idx = Indices(t, xStart);
        using var scope = NewDisposeScope();
        noise ??= randn(xStart.shape, xStart.dtype, xStart.device, generator: generator);
        CheckSameShape(xStart, noise, "noise");
        var xT = QSample(xStart, t, noise);
        var output = model(xT, ModelTimesteps(t));
        var (eps, v) = SplitOutput(output, xStart);
        var mse = MeanFlat((noise - eps).Pow(2));
        Tensor? vb = null;
        if (v is not null)
        {
            var frozen = cat([eps.detach(), v], 1);
            vb = VbTermsBpd(frozen, xStart, xT, idx, t);
        }
        var loss = vb is null ? mse : mse.Plus(vb);
        return new LossTerms(loss.MoveToOuterDisposeScope(), mse.MoveToOuterDisposeScope(), vb?.MoveToOuterDisposeScope());
    }

    /// <summary>KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) in bits, or the discretized decoder NLL where t == 0 (_vb_terms_bpd).</summary>
    Tensor VbTermsBpd(Tensor modelOutput, Tensor xStart, Tensor xT, long[] idx, Tensor t)
    {
        var (trueMean, _, trueLogVariance) = Posterior(xStart, xT, idx);
        var p = PMeanVarianceFromOutput(modelOutput, xT, t, clipDenoised: false);
        var kl = MeanFlat(GaussianMath.NormalKl(trueMean, trueLogVariance, p.Mean, p.LogVariance)).DividedBy(Math.Log(2.0));
        var nll = (-MeanFlat(GaussianMath.DiscretizedGaussianLogLikelihood(xStart, p.Mean, p.LogVariance.Times(0.5)))).DividedBy(Math.Log(2.0));
        var first = tensor(idx.Select(i => i == 0).ToArray(), device: xStart.device);
        return where(first, nll, kl);
    }

    static Tensor MeanFlat(Tensor x) => x.mean(Enumerable.Range(1, (int)x.dim() - 1).Select(d => (long)d).ToArray());
}

/// <summary>Gaussian KL and the discretized decoder likelihood of the reference's diffusion_utils.</summary>
public static class GaussianMath
{
    public static Tensor NormalKl(Tensor mean1, Tensor logVar1, Tensor mean2, Tensor logVar2) =>
        logVar2.Plus(-1.0).sub(logVar1).Plus((logVar1 - logVar2).exp()).Plus((mean1 - mean2).Pow(2) * (-logVar2).exp()).Times(0.5);

    /// <summary>tanh approximation of the standard normal CDF.</summary>
    public static Tensor ApproxStandardNormalCdf(Tensor x) =>
        x.Plus(x.Pow(3).Times(0.044715)).Times(Math.Sqrt(2.0 / Math.PI)).tanh().Plus(1.0).Times(0.5);

    /// <summary>log-likelihood (nats) of data in [-1, 1] quantised to 256 levels (bins of 2/255), with open edge bins.</summary>
    public static Tensor DiscretizedGaussianLogLikelihood(Tensor x, Tensor means, Tensor logScales)
    {
        var centered = x - means;
        var invStdv = (-logScales).exp();
        var cdfPlus = ApproxStandardNormalCdf(invStdv * centered.Plus(1.0 / 255.0));
        var cdfMin = ApproxStandardNormalCdf(invStdv * centered.Minus(1.0 / 255.0));
        var logCdfPlus = cdfPlus.ClampedBelow(1e-12).log();
        var logOneMinusCdfMin = cdfMin.SubtractedFrom(1.0).ClampedBelow(1e-12).log();
        var logCdfDelta = (cdfPlus - cdfMin).ClampedBelow(1e-12).log();
        return where(x.LessThan(-0.999), logCdfPlus, where(x.GreaterThan(0.999), logOneMinusCdfMin, logCdfDelta));
    }
}
