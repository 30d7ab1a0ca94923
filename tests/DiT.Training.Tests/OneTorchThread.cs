using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

/// <summary>
/// This test process runs libtorch with one intra-op thread. one-torch-thread.runsettings gives every thread's OpenMP
/// one thread from the process's start (OMP_NUM_THREADS), and this sets libtorch's own count to match before any test.
/// Without the variable, each xUnit thread's OpenMP started with both cores until its first at::parallel_for, and
/// libtorch's Conv2d backward with two threads returns a wrong input gradient. See TorchThreadsTests, FirstConvolution
/// and docs/training.md.
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
