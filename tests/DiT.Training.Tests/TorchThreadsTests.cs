using System.Runtime.InteropServices;
using DiT.Model;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

/// <summary>
/// On a thread whose OpenMP still has two threads (libtorch has not initialised that thread), an 8-channel Conv2d
/// backward returns a wrong input gradient (-214.4 or -249.1 instead of -128.3 here). TorchThreads gives such a thread
/// the process's count (one here) first.
/// </summary>
public class TorchThreadsTests
{
    /// <summary>OpenMP as libtorch ships it (libgomp-&lt;hash&gt;.so.1 beside libtorch_cpu).</summary>
    static readonly Lazy<OmpSetNumThreads> SetOpenMpThreads = new(() =>
    {
        var library = Directory.EnumerateFiles(AppContext.BaseDirectory, "libgomp*.so*", SearchOption.AllDirectories).FirstOrDefault()
            ?? throw new FileNotFoundException($"libtorch's libgomp not found under {AppContext.BaseDirectory}");
        // By file name, so the loader hands back the copy libtorch already uses rather than loading a second one.
        var handle = NativeLibrary.Load(Path.GetFileName(library), typeof(TorchThreadsTests).Assembly, DllImportSearchPath.AssemblyDirectory);
        return Marshal.GetDelegateForFunctionPointer<OmpSetNumThreads>(NativeLibrary.GetExport(handle, "omp_set_num_threads"));
    });

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate void OmpSetNumThreads(int count);

    /// <summary>(output sum, input-gradient sum, weight-gradient sum) of an 8-channel 3x3 convolution (the smallest widths show the bug; 32 did not), forward and backward.</summary>
    static (float Output, float InputGrad, float WeightGrad) ConvolutionSums()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        using var conv = nn.Conv2d(8, 8, 3, padding: 1);
        using (no_grad())
        {
            conv.weight!.copy_(randn(conv.weight.shape, generator: generator) * 0.1);
            conv.bias!.zero_();
        }
        var x = randn([4, 8, 16, 16], generator: generator).requires_grad_(true);  // (N, C, H, W)
        var y = conv.call(x);
        y.square().sum().backward();
        return (y.sum().item<float>(), x.grad!.sum().item<float>(), conv.weight.grad!.sum().item<float>());
    }

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
    public void AThreadWhoseOpenMpHasTwoThreadsGetsTheProcessCountAndTheRightGradients()
    {
        Assert.Equal(1, get_num_threads());   // OneTorchThread
        var expected = ConvolutionSums();

        var applied = OnNewThread(() =>
        {
            SetOpenMpThreads.Value(2);          // what a new thread's OpenMP has on a two-core machine
            TorchThreads.ApplyToThisThread();
            return ConvolutionSums();
        });

        Assert.Equal(expected, applied);
    }
}
