using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using DiT.Api.Generate;
using DiT.Api.OpenApi;
using DiT.Api.Options;
using DiT.Api.Promotions;
using DiT.Api.Security;
using DiT.Serving.Options;
using DiT.Testing;

namespace DiT.Api.Tests;

/// <summary>The Dockerfile and the Kubernetes manifests name real options and real endpoints (a typo there is silently ignored at run time).</summary>
[Collection(nameof(ProcessWideMeters))] // reads /metrics
public sealed partial class DeploymentConfigTests
{
    static readonly Dictionary<string, Type> Sections = new()
    {
        [ModelOptions.Section] = typeof(ModelOptions),
        [EngineOptions.Section] = typeof(EngineOptions),
        [CacheOptions.Section] = typeof(CacheOptions),
        [AdminOptions.Section] = typeof(AdminOptions),
        [TelemetryOptions.Section] = typeof(TelemetryOptions),
        [TrainingJobsOptions.Section] = typeof(TrainingJobsOptions),
        [PromotionOptions.Section] = typeof(PromotionOptions),
        [PlaygroundOptions.Section] = typeof(PlaygroundOptions),
        [SwaggerOptions.Section] = typeof(SwaggerOptions),
        [SecurityOptions.Section] = typeof(SecurityOptions),
        [ServerOptions.Section] = typeof(ServerOptions),
    };

    public static TheoryData<string> DeploymentFiles => new() { "Dockerfile", "deploy/k8s/dit-service.yaml" };

    static string Read(string file) => File.ReadAllText(Path.Combine(Golden.RepoRoot(), file));

    [GeneratedRegex(@"\b([A-Z][A-Za-z]+)__([A-Za-z]+)(?:__[0-9]+)?\b")]
    private static partial Regex OptionVariable();

    [GeneratedRegex(@"path: (/[a-z/]+)")]
    private static partial Regex ProbePath();

    [Theory, MemberData(nameof(DeploymentFiles))]
    public void EveryOptionVariableNamesARealOption(string file)
    {
        var names = OptionVariable().Matches(Read(file)).Select(m => (Section: m.Groups[1].Value, Key: m.Groups[2].Value)).Distinct().ToList();
        Assert.NotEmpty(names);
        foreach (var (section, key) in names)
        {
            Assert.True(Sections.TryGetValue(section, out var type), $"{file}: {section}__{key}: there is no options section '{section}'");
            var property = type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance);
            Assert.True(property is { CanWrite: true }, $"{file}: {section}__{key}: {type.Name} has no settable '{key}'");
        }
    }

    [Fact]
    public async Task ProbeAndScrapePathsInTheManifestAnswerAndExportTheScalingMetric()
    {
        var paths = ProbePath().Matches(Read("deploy/k8s/dit-service.yaml")).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.Contains("/health/ready", paths);
        Assert.Contains("/metrics", paths);
        Assert.Contains("curl -fsS http://localhost:8080/health/ready", Read("Dockerfile"));

        using var factory = new ApiFactory();
        var client = await factory.ReadyClientAsync();
        foreach (var path in paths) Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(path)).StatusCode);
        Assert.Contains("dit_queue_depth", await client.GetStringAsync("/metrics")); // the HPA's metric
    }
}
