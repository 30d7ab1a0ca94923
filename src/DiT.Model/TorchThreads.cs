using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>
/// libtorch keeps its intra-op thread count per OS thread for OpenMP: set_num_threads records the count for the process
/// but gives it to OpenMP on the calling thread only; another thread takes it lazily, at its first at::parallel_for.
/// Until then OpenMP there has its own default (every core), so a run asked for one thread would compute its first
/// operations on a new thread with all of them. Work that trains calls this first on whichever thread runs it.
/// </summary>
public static class TorchThreads
{
    /// <summary>Gives this thread's OpenMP the process's libtorch thread count now (get_num_threads initialises it).</summary>
    public static void ApplyToThisThread() => get_num_threads();
}
