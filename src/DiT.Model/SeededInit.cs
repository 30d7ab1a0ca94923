using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>
/// nn.init's uniform, normal and Xavier-uniform, drawn from a given generator when there is one. TorchSharp's init
/// functions draw from the process-wide RNG, which any other thread may advance between a manual_seed and the draw.
/// Without a generator these are nn.init itself.
/// </summary>
public static class SeededInit
{
    public static void Uniform(Tensor weight, double low, double high, Generator? generator)
    {
        if (generator is null) { nn.init.uniform_(weight, low, high); return; }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        weight.copy_(rand(weight.shape, ScalarType.Float32, generator: generator).Times(high - low).Plus(low));
    }

    public static void Normal(Tensor weight, double std, Generator? generator)
    {
        if (generator is null) { nn.init.normal_(weight, std: std); return; }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        weight.copy_(randn(weight.shape, ScalarType.Float32, generator: generator).Times(std));
    }

    /// <summary>U(-b, b) with b = sqrt(6 / (fan_in + fan_out)) for a (fan_out, fan_in) matrix.</summary>
    public static void XavierUniform(Tensor weight, Generator? generator)
    {
        if (generator is null) { nn.init.xavier_uniform_(weight); return; }
        double bound = Math.Sqrt(6.0 / (weight.shape[0] + weight.shape[1]));
        Uniform(weight, -bound, bound, generator);
    }
}
