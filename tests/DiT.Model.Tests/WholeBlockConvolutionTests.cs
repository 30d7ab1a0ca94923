using DiT.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>
/// libtorch 2.10's oneDNN Conv2d backward returns a wrong input gradient when the output channels do not fill whole
/// channel blocks (see WholeBlockConvolution). These compare the fp32 gradients with fp64 ones (fp64 convolutions do
/// not use oneDNN), after leaving NaN in freed memory of the sizes the blocked gradients take, which the plain forward
/// turned into wrong or NaN gradients in nearly every check.
/// </summary>
public sealed class WholeBlockConvolutionTests
{
    static double RelativeError(Tensor actual, Tensor expected) =>
        (actual.to(ScalarType.Float64) - expected).abs().max().item<double>() / expected.abs().max().item<double>();

    public static TheoryData<int, int, int, int> Shapes => new()
    {
        // (batch, in channels, out channels, kernel): the VAE's partial-block convolutions, and whole ones beside them
        { 4, 8, 8, 3 }, { 4, 64, 8, 3 }, { 64, 32, 1, 3 }, { 4, 3, 4, 3 }, { 4, 8, 8, 1 }, { 4, 4, 4, 1 }, { 4, 8, 16, 3 }, { 4, 8, 40, 3 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void InputAndWeightGradientsMatchDoublePrecision(int batch, int inChannels, int outChannels, int kernel)
    {
        using var generator = new Generator(7);
        using var conv = nn.Conv2d(inChannels, outChannels, kernel, padding: kernel / 2);
        using var conv64 = nn.Conv2d(inChannels, outChannels, kernel, padding: kernel / 2, dtype: ScalarType.Float64);
        using (no_grad())
        {
            conv.weight!.copy_(randn(conv.weight.shape, generator: generator));
            conv.bias!.copy_(randn(conv.bias.shape, generator: generator));
            conv64.weight!.copy_(conv.weight);
            conv64.bias!.copy_(conv.bias);
        }
        using var x = randn([batch, inChannels, 16, 16], generator: generator);   // (N, C_in, H, W)
        using var x64 = x.to(ScalarType.Float64).requires_grad_(true);
        conv64.ForwardWithWholeBlocks(x64).square().sum().backward();

        for (int attempt = 0; attempt < 4; attempt++)
        {
            using var scope = NewDisposeScope();
            conv.zero_grad();
            var input = x.detach().requires_grad_(true);
            FreedMemory.LeaveNaN();
            var y = conv.ForwardWithWholeBlocks(input);
            y.square().sum().backward();

            Assert.Equal([batch, outChannels, 16, 16], y.shape);
            Assert.True(RelativeError(input.grad!, x64.grad!) < 1e-4, $"attempt {attempt}: input gradient off by {RelativeError(input.grad!, x64.grad!):G3} (relative to its largest element)");
            Assert.True(RelativeError(conv.weight!.grad!, conv64.weight!.grad!) < 1e-4, $"attempt {attempt}: weight gradient off by {RelativeError(conv.weight.grad!, conv64.weight.grad!):G3}");
            Assert.True(RelativeError(conv.bias!.grad!, conv64.bias!.grad!) < 1e-4, $"attempt {attempt}: bias gradient off by {RelativeError(conv.bias.grad!, conv64.bias.grad!):G3}");
        }
    }

    [Fact]
    public void WithoutAnInputGradientItIsThePlainForward()
    {
        using var generator = new Generator(8);
        using var conv = nn.Conv2d(8, 4, 3, padding: 1);
        using var x = randn([4, 8, 16, 16], generator: generator);
        using var plain = conv.forward(x);
        using var whole = conv.ForwardWithWholeBlocks(x);
        Assert.True(whole.equal(plain).all().item<bool>());
        using (no_grad())
        {
            using var input = x.detach().requires_grad_(true);
            using var underNoGrad = conv.ForwardWithWholeBlocks(input);
            Assert.True(underNoGrad.equal(plain).all().item<bool>());
        }
    }
}
