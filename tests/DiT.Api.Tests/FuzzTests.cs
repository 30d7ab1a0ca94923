extern alias cli;

using cli::DiT.Cli.Fuzz;

namespace DiT.Api.Tests;

/// <summary>
/// The issue as a whole: `dit fuzz`'s requests (malformed JSON, wrong types, broken framing, oversized bodies, odd
/// methods, paths and headers) against the service on a real Kestrel get no 5xx and no exception text. A fixed seed;
/// docs/security.md has the 10,000-request run.
/// </summary>
public sealed class FuzzTests : IDisposable
{
    readonly string _dataRoot = Directory.CreateTempSubdirectory("dit-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dataRoot, recursive: true);

    [Fact]
    public async Task FuzzedRequestsToEveryRouteGetNo5xxAndNoExceptionText()
    {
        using var factory = new ApiFactory()
            .With("Admin:ApiKey", "fuzz-key")
            .With("Training:DataRoots:0", _dataRoot) // empty: no fuzzed fine-tuning request can start a job
            .With("Training:JobsFolder", Path.Combine(_dataRoot, "jobs"))
            .With("Server:MinRequestBodyGracePeriod", "00:00:01.100");
        var address = factory.StartOnLoopback();
        await factory.ReadyClientAsync();

        var report = await Fuzzer.RunAsync(address, total: 400, seed: 20, concurrency: 4, apiKey: "fuzz-key", wait: Hang.Guard);

        Assert.True(report.Failures.Count == 0, string.Join("\n", report.Failures));
        Assert.True(report.ByStatus.Keys.Count(s => s.StartsWith('4')) >= 5, $"the fuzzer should draw many kinds of 4xx: {string.Join(", ", report.ByStatus.Keys)}");
    }

    [Theory]
    [InlineData("http://127.0.0.1:5077")]
    [InlineData("http://127.9.9.9")]
    [InlineData("http://localhost:5000")]
    [InlineData("http://[::1]:5000")]
    public void TheFuzzerTargetsThisMachine(string url) => Assert.Equal(new Uri(url), LoopbackOnly.Parse(url));

    [Theory]
    [InlineData("http://10.0.0.1:5000")]
    [InlineData("http://example.com")]
    [InlineData("http://127.0.0.1.nip.io")]
    [InlineData("http://[::ffff:10.0.0.1]")]
    [InlineData("https://127.0.0.1")]
    [InlineData("127.0.0.1:5077")]
    public void TheFuzzerRefusesAnyOtherHost(string url) => Assert.Throws<ArgumentException>(() => LoopbackOnly.Parse(url));
}
