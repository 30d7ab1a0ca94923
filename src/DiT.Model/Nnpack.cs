using System.Runtime.InteropServices;

namespace DiT.Model;

/// <summary>
/// Switches libtorch's NNPACK convolutions off (torch.backends.nnpack.set_flags(False), which TorchSharp 0.107 does not
/// expose). On CPUs NNPACK does not support (the AMD EPYC machines here) libtorch tries it on every eligible Conv2d and
/// writes "Could not initialize NNPACK! Reason: Unsupported hardware." to stderr each time: a line per VAE convolution
/// in the service's log. Off, a CPU that supports NNPACK takes the same kind of kernel as one that does not.
/// </summary>
public static class Nnpack
{
    /// <summary>Turns NNPACK off for the process; false when this libtorch has no such switch (nothing changes then).</summary>
    public static bool Disable()
    {
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);   // libtorch loaded, so the import below finds that copy
        try
        {
            SetUserEnabledNnpack(GlobalContext(), false);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    // at::globalContext() and at::Context::setUserEnabledNNPACK(bool): C++ symbols of libtorch_cpu (Itanium ABI;
    // a member function takes `this` as its first argument).
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
