using System.Runtime.InteropServices;
using DiT.Model;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

/// <summary>
/// A thread libtorch has not initialised computes with its OpenMP's own count; TorchThreads gives it the process's
/// libtorch count (one here) first.
/// </summary>
public class TorchThreadsTests
{
    /// <summary>OpenMP as libtorch ships it (libgomp-&lt;hash&gt;.so.1 beside libtorch_cpu).</summary>
    static readonly Lazy<IntPtr> OpenMp = new(() =>
    {
        var library = Directory.EnumerateFiles(AppContext.BaseDirectory, "libgomp*.so*", SearchOption.AllDirectories).FirstOrDefault()
            ?? throw new FileNotFoundException($"libtorch's libgomp not found under {AppContext.BaseDirectory}");
        // By file name, so the loader hands back the copy libtorch already uses rather than loading a second one.
        return NativeLibrary.Load(Path.GetFileName(library), typeof(TorchThreadsTests).Assembly, DllImportSearchPath.AssemblyDirectory);
    });

    static T OpenMpFunction<T>(string name) => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(OpenMp.Value, name));

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate void OmpSetNumThreads(int count);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int OmpGetMaxThreads();

    static T OnNewThread<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() => { try { result = work(); } catch (Exception e) { failure = e; } });
        thread.Start();
        thread.Join();
        return failure is null ? result : throw new InvalidOperationException("the thread failed", failure);
    }

    /// <summary>one-torch-thread.runsettings reached this process (dotnet test on the project or on DiT.sln).</summary>
    [Fact]
    public void ThisTestProcessStartedWithOneOpenMpThread() => Assert.Equal("1", Environment.GetEnvironmentVariable("OMP_NUM_THREADS"));

    [Fact]
    public void AThreadWhoseOpenMpHasTwoThreadsGetsTheProcessCount()
    {
        Assert.Equal(1, get_num_threads());   // OneTorchThread
        var (before, after) = OnNewThread(() =>
        {
            OpenMpFunction<OmpSetNumThreads>("omp_set_num_threads")(2);    // what a new thread's OpenMP has on a two-core machine
            int untouched = OpenMpFunction<OmpGetMaxThreads>("omp_get_max_threads")();
            TorchThreads.ApplyToThisThread();
            return (untouched, OpenMpFunction<OmpGetMaxThreads>("omp_get_max_threads")());
        });

        Assert.Equal(2, before);
        Assert.Equal(1, after);
    }
}
