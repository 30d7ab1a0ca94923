using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace DiT.Model;

/// <summary>
/// A linear map of one row per image, (N, D_in) -> (N, D_out), whose result for a row does not depend on N. libtorch's
/// CPU GEMM takes another kernel for few rows: on libtorch 2.10, 1 to 3 rows differed from 4 or more by about 1e-6,
/// while 4 to 8 rows all agreed. So an image's conditioning (timestep MLP, adaLN) had other low bits alone (N = 2 with
/// guidance) than in a batch, which a VAE decoder turns into other PNG pixels. Fewer than <see cref="MinRows"/> rows are
/// padded with zero rows, which are dropped again (4 suffices here; 16 leaves room for other CPUs' kernels).
/// </summary>
internal static class BatchInvariantLinear
{
    internal const int MinRows = 16;

    internal static Tensor Forward(Linear linear, Tensor rows)
    {
        long n = rows.shape[0];
        if (n >= MinRows) return linear.forward(rows);
        using var scope = NewDisposeScope();
        var padded = functional.pad(rows, [0, 0, 0, MinRows - n]);                    // (MinRows, D_in), zeros below
        return linear.forward(padded).narrow(0, 0, n).MoveToOuterDisposeScope();      // (N, D_out)
    }
}
