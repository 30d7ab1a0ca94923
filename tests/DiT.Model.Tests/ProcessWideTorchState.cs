namespace DiT.Model.Tests;

/// <summary>Tests that change libtorch's process-wide state (its thread count) run in this collection, which xUnit runs
/// while no other test of the assembly runs: a test beside them would compute with another thread count.</summary>
[CollectionDefinition(nameof(ProcessWideTorchState), DisableParallelization = true)]
public sealed class ProcessWideTorchState;
