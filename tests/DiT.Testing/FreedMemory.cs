using static TorchSharp.torch;

namespace DiT.Testing;

/// <summary>
/// Memory a kernel allocates but does not write is whatever the allocator hands back. A test of such a bug (see
/// WholeBlockConvolution) frees NaN-filled buffers first, so the next allocations of those sizes likely reuse NaN
/// rather than the zeros a fresh process's pages hold.
/// </summary>
public static class FreedMemory
{
    /// <summary>Allocates and frees NaN-filled buffers of 4 KiB to 1 MiB.</summary>
    public static void LeaveNaN()
    {
        for (long bytes = 4096; bytes <= 1 << 20; bytes *= 2) full([bytes / sizeof(float)], float.NaN).Dispose();
    }
}
