namespace DiT.Api.Tests;

/// <summary>
/// Tests that read /metrics run alone, after the parallel ones. Every service host in this process names its Meter
/// "DiT.Api", and OpenTelemetry subscribes to meters by name, so one host's /metrics also counts what the other hosts
/// alive at the same time record (one process per replica in production, so there it is only its own).
/// </summary>
[CollectionDefinition(nameof(ProcessWideMeters), DisableParallelization = true)]
public sealed class ProcessWideMeters;
