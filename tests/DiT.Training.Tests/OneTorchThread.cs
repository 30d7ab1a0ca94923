using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

/// <summary>
/// This test process runs libtorch with one intra-op thread, set once before any test. With two, libtorch's CPU
/// Conv2d backward (TorchSharp 0.107) returned a different input gradient on every call for small channel counts (8
/// channels: three different sums in six identical calls, none equal to the one-thread result), so a VAE training step
/// was not reproducible and sometimes NaN; the first call after changing the count returned NaN. See docs/training.md.
/// </summary>
static class OneTorchThread
{
#pragma warning disable CA2255 // a module initializer in a test assembly: the thread count must be set before any test touches libtorch
    [ModuleInitializer]
    internal static void Set() => set_num_threads(1);
#pragma warning restore CA2255
}
