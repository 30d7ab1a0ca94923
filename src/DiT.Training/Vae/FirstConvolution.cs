using static TorchSharp.torch;

namespace DiT.Training.Vae;

/// <summary>
/// libtorch 2.10's first Conv2d backward in a process can return NaN in its input gradient (measured: once in 3 fresh
/// processes of a probe, and in 2 of 2 fresh clones' test runs, with one OpenMP thread); the calls after it were right.
/// Training a VAE runs one small convolution forward and backward first, once per process, and discards it.
/// </summary>
public static class FirstConvolution
{
    static readonly Lazy<bool> Done = new(() =>
    {
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(8, 8, 3, padding: 1);
        var x = zeros([4, 8, 16, 16]).requires_grad_(true);      // (N, C, H, W)
        conv.call(x).sum().backward();
        return true;
    });

    public static void WarmUp() => _ = Done.Value;
}
