using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>
/// libtorch 2.10's CPU Conv2d backward (oneDNN, fp32) returns a wrong input gradient, often NaN, when the output
/// channels are not a multiple of oneDNN's channel block (16 floats with AVX-512, 8 with AVX2): the output gradient is
/// reordered into blocks padded past the last channel, and whatever memory the padding reuses leaks into the result.
/// Measured on an AMD EPYC with AVX-512 (1, 4 and 8 output channels wrong in 94-97 of 108 checks, 16 and 32 always
/// right; with AVX2 capped, 1 and 4 wrong) and seen as NaN in CI; the forward and the weight gradient are right.
/// While autograd records a gradient for the input, such a convolution therefore runs with its weight extended by
/// zero filters to a multiple of 16 output channels and its output narrowed back: the gradient that reaches oneDNN
/// then has whole blocks, the extra channels real zeros. The VAE's mean/logvar, quant and output convolutions (8, 8,
/// 4 and 1 channels) are such convolutions. Inference and already-whole convolutions run unchanged.
/// </summary>
public static class WholeBlockConvolution
{
    /// <summary>The widest oneDNN fp32 channel block (AVX-512); a multiple of every narrower one.</summary>
    const long Block = 16;

    /// <summary><paramref name="conv"/>.forward(<paramref name="x"/>), with a right input gradient (see the class).</summary>
    public static Tensor ForwardWithWholeBlocks(this Conv2d conv, Tensor x)
    {
        long outChannels = conv.out_channels;
        if (outChannels % Block == 0 || !x.requires_grad || !is_grad_enabled()) return conv.forward(x);
        if (conv.groups != 1 || conv.padding_type is not null || conv.padding_mode != PaddingModes.Zeros)
            throw new NotSupportedException($"Whole-block padding of a Conv2d supports groups 1 and explicit zero padding; this one has groups {conv.groups}, padding {conv.padding_type?.ToString() ?? "explicit"}, mode {conv.padding_mode}.");

        using var scope = NewDisposeScope();
        var weight = conv.weight!;                                                           // (C_out, C_in, kh, kw)
        long extra = Block - outChannels % Block;
        var zeroFilters = zeros([extra, weight.shape[1], weight.shape[2], weight.shape[3]], dtype: weight.dtype, device: weight.device);
        var wholeWeight = cat([weight, zeroFilters], 0);                                     // (C_out + extra, C_in, kh, kw)
        var wholeBias = conv.bias is null ? null : cat([conv.bias, zeros([extra], dtype: weight.dtype, device: weight.device)], 0);
        return nn.functional.conv2d(x, wholeWeight, wholeBias, conv.stride, conv.padding, conv.dilation)
            .narrow(1, 0, outChannels)                                                       // (N, C_out, H', W')
            .MoveToOuterDisposeScope();
    }
}
