using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>
/// An image's model output has the same bits whatever it is batched with, so a seed gives the same PNG alone and in a
/// batch, also through a VAE decoder, which turns a 1e-7 difference into another pixel (LatentModelTests). libtorch's
/// CPU kernels for one image's patch conv and for GEMMs of under 4 rows differ from the batched ones; see PatchEmbed
/// and BatchInvariantLinear.
/// </summary>
[Collection(nameof(ProcessWideTorchState))]
public sealed class BatchInvarianceTests
{
    static readonly DiTConfig Config = new(InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 64, Depth: 2, NumHeads: 4, NumClasses: 10, LearnSigma: true);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void EveryRowOfABatchEqualsThatRowAloneBitForBit(int threads)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        try
        {
            using var scope = NewDisposeScope();
            using var mode = inference_mode();
            using var model = new DiTModel(Config, new Generator(5));
            model.eval();                                                               // no label dropout
            foreach (var (name, parameter) in model.named_parameters())   // DiT's zero init would make the output ignore t and y
                if (name != "pos_embed") parameter.copy_(randn(parameter.shape, generator: new Generator(7)) * 0.05);
            var x = randn([9, 4, 8, 8], generator: new Generator(11));                 // (N, C, H, W)
            var t = tensor(new long[] { 999, 500, 3, 250, 999, 10, 700, 1, 42 });
            var y = tensor(new long[] { 7, 10, 0, 3, 7, 10, 9, 1, 5 });              // 10: the null class
            var batched = model.forward(x, t, y);                                       // (9, 8, 8, 8)

            foreach (int n in new[] { 1, 2, 3, 5 })
            {
                var alone = model.forward(x.narrow(0, 0, n), t.narrow(0, 0, n), y.narrow(0, 0, n));
                Assert.True(batched.narrow(0, 0, n).equal(alone).all().item<bool>(),
                    $"{n} rows vs 9: max |diff| {(batched.narrow(0, 0, n) - alone).abs().max().item<float>():E2}");
            }
        }
        finally { set_num_threads(before); }
    }
}
