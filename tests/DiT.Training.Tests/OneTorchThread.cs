using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

/// <summary>
/// This test process runs libtorch with one intra-op thread. one-torch-thread.runsettings gives every thread's OpenMP
/// one thread from the process's start (OMP_NUM_THREADS), and this sets libtorch's own count to match before any test.
/// Without the variable, each xUnit thread's OpenMP started with both cores and switched to one at its first
/// at::parallel_for; a Conv2d backward across that switch returned NaN (a VAE test, 1 of 9 suite runs; 1 of 3 processes
/// in a probe). See TorchThreadsTests and docs/training.md.
/// </summary>
static class OneTorchThread
{
#pragma warning disable CA2255 // a module initializer in a test assembly: the thread count must be set before any test touches libtorch
    [ModuleInitializer]
    internal static void Set()
    {
        set_num_threads(1);
        DiT.Training.Vae.FirstConvolution.WarmUp();   // before any test's convolution: see FirstConvolution
    }
#pragma warning restore CA2255
}
