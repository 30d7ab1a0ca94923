using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>Some cases change libtorch's process-wide thread count, so this class runs alone (see <see cref="ProcessWideTorchState"/>).</summary>
[Collection(nameof(ProcessWideTorchState))]
public sealed class TanhGeluTests
{
    static readonly TorchSharp.Modules.GELU Reference = nn.GELU(TorchSharp.Modules.GELU.Approximate.tanh);

    /// <summary>Typical activations, the tails (where exp(-2u) under- or overflows) and odd lengths for the scalar tail.</summary>
    static Tensor Inputs(long count) => cat([randn(count) * 3, tensor(new float[] { 0, -0f, 1e-30f, -1e-30f, 9, -9, 40, -40, 1e4f, -1e4f, 3e38f, -3e38f })]);

    [Theory]
    [InlineData(1, 7)]
    [InlineData(1, 4099)]
    [InlineData(2, 300_001)]   // large enough to run in parts on 2 threads
    public void InPlacePassEqualsLibtorchsTanhGelu(int threads, long count)
    {
        using var scope = NewDisposeScope();
        int before = get_num_threads();
        set_num_threads(threads);
        try
        {
            using var mode = inference_mode();
            var x = Inputs(count);
            var expected = Reference.forward(x);
            var actual = x.clone();
            Assert.True(TanhGelu.TryApplyInPlace(actual));
            // Scaled by 1 + |x|: for x in about [-10, -3] libtorch's 0.5 x (1 + tanh(u)) loses digits to the
            // cancellation in 1 + tanh(u) (absolute error ~|x| * 6e-8); the form without it is at least as exact.
            var error = (actual - expected).abs() / (x.abs() + 1);
            Assert.True(error.max().item<float>() < 1e-6f, $"max scaled error {error.max().item<float>()}");
            Assert.False(actual.isnan().any().item<bool>());
        }
        finally { set_num_threads(before); }
    }

    [Fact]
    public void LeavesTensorsAloneWhenAutogradOrTheLayoutNeedsLibtorch()
    {
        using var scope = NewDisposeScope();
        var tracked = randn(64).requires_grad_();
        var strided = randn(8, 8).t();
        var doubles = randn(64, dtype: ScalarType.Float64);
        foreach (var x in new[] { tracked, strided, doubles })
        {
            var copy = x.detach().clone();
            Assert.False(TanhGelu.TryApplyInPlace(x));
            Assert.True(x.detach().eq(copy).all().item<bool>());
        }
    }

    [Fact]
    public void ServingForwardMatchesTheAutogradForward()
    {
        // Under inference mode the MLP takes the fused pass; with autograd on it takes libtorch's GELU.
        using var scope = NewDisposeScope();
        using var model = new DiTModel(new DiTConfig(InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 64, Depth: 2, NumHeads: 4, NumClasses: 5));
        using (no_grad())
            foreach (var (_, p) in model.named_parameters()) p.normal_(0, 0.1);
        model.eval();
        var (x, t, y) = (randn(3, 4, 8, 8), tensor(new long[] { 1, 500, 999 }), tensor(new long[] { 0, 4, 5 }));
        var withAutograd = model.forward(x, t, y).detach();
        Tensor served;
        using (inference_mode()) served = model.forward(x, t, y);
        var error = (served - withAutograd).abs().max().item<float>() / withAutograd.abs().max().item<float>();
        Assert.True(error < 1e-5f, $"relative difference {error}");
    }
}
