using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

/// <summary>
/// This test process runs libtorch with one intra-op thread. one-torch-thread.runsettings gives every thread's OpenMP
/// one thread from the process's start (OMP_NUM_THREADS), and this sets libtorch's own count to match before any test,
/// so no xUnit thread computes with both cores before libtorch has initialised it (see TorchThreads).
/// </summary>
static class OneTorchThread
{
#pragma warning disable CA2255 // a module initializer in a test assembly: the thread count must be set before any test touches libtorch
    [ModuleInitializer]
    internal static void Set() => set_num_threads(1);
#pragma warning restore CA2255
}
