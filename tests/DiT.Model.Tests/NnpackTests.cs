namespace DiT.Model.Tests;

public sealed class NnpackTests
{
    /// <summary>The switch is a C++ symbol of libtorch_cpu, not TorchSharp API: a libtorch upgrade that renames it fails here.</summary>
    [Fact]
    public void ThisLibtorchHasTheNnpackSwitch() => Assert.True(Nnpack.Disable());
}
