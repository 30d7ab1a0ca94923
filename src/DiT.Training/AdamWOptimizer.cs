using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiT.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019; amsgrad off) computed as torch.optim.AdamW and TorchSharp's AdamW compute it,
/// op for op. Ours because TorchSharp 0.107's makes several temporary Scalars per parameter per step, which a GC on
/// another thread can free while libtorch reads them (see KeptScalars); every Scalar here lives through its call.
/// </summary>
public sealed class AdamWOptimizer : IDisposable
{
    /// <summary>One parameter's moments and step count, named as torch.optim.AdamW names them.</summary>
    public sealed class State(Parameter parameter) : IDisposable
    {
        public Parameter Parameter { get; } = parameter;
        public long Step { get; set; }
        public Tensor ExpAvg { get; } = zeros_like(parameter).DetachFromDisposeScope();
        public Tensor ExpAvgSq { get; } = zeros_like(parameter).DetachFromDisposeScope();

        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
        }
    }

    readonly double _beta1, _beta2, _eps, _weightDecay;

    public AdamWOptimizer(IEnumerable<Parameter> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0.01)
    {
        (LearningRate, _beta1, _beta2, _eps, _weightDecay) = (learningRate, beta1, beta2, eps, weightDecay);
        States = parameters.Select(p => new State(p)).ToArray();
    }

    public double LearningRate { get; set; }

    /// <summary>In the order the parameters were given.</summary>
    public IReadOnlyList<State> States { get; }

    public void ZeroGrad()
    {
        foreach (var state in States)
        {
            using var grad = state.Parameter.grad;
            grad?.zero_();
        }
    }

    public void Step()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var state in States)
        {
            var grad = state.Parameter.grad;
            if (grad is null) continue;
            state.Step++;
            double biasCorrection1 = 1 - Math.Pow(_beta1, state.Step), biasCorrection2 = 1 - Math.Pow(_beta2, state.Step);
            state.Parameter.TimesInPlace(1 - LearningRate * _weightDecay);
            state.ExpAvg.TimesInPlace(_beta1).PlusScaledInPlace(grad, 1 - _beta1);
            using (var keep = (1 - _beta2).ToScalar()) state.ExpAvgSq.TimesInPlace(_beta2).addcmul_(grad, grad, keep);
            var denominator = state.ExpAvgSq.sqrt().DividedBy(Math.Sqrt(biasCorrection2)).PlusInPlace(_eps);
            using var stepSize = (-(LearningRate / biasCorrection1)).ToScalar();
            state.Parameter.addcdiv_(state.ExpAvg, denominator, stepSize);
        }
    }

    public void Dispose()
    {
        foreach (var state in States) state.Dispose();
    }
}
