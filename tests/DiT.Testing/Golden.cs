using System.Text.Json.Nodes;
using DiT.Model.Checkpoints;
using Xunit;
using static TorchSharp.torch;

namespace DiT.Testing;

/// <summary>
/// The golden vectors folder: tests/golden in the repository, or DIT_GOLDEN_DIR, which replaces the whole folder.
/// Every case its manifest lists is run, so the same tests can be pointed at another set in that format.
/// </summary>
public sealed class Golden
{
    public const string MissingCase = "<golden folder missing>";

    static readonly Lazy<Golden?> Instance = new(() => TryOpen(ResolveDirectory()));
    readonly Dictionary<string, Dictionary<string, Tensor>> _files = new();
    readonly Lock _lock = new();

    public string Directory { get; }
    public JsonObject Manifest { get; }

    Golden(string directory, JsonObject manifest) => (Directory, Manifest) = (directory, manifest);

    /// <summary>The golden set, or a failure that says where it was looked for.</summary>
    public static Golden Default => Instance.Value
        ?? throw new InvalidOperationException($"No golden vectors at '{ResolveDirectory()}'. Set DIT_GOLDEN_DIR to a folder holding manifest.json.");

    public static string ResolveDirectory()
    {
        var fromEnv = Environment.GetEnvironmentVariable("DIT_GOLDEN_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnv)) return Path.GetFullPath(fromEnv);
        return Path.Combine(RepoRoot(), "tests", "golden");
    }

    /// <summary>The repository root: the nearest folder above the test binaries holding DiT.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DiT.sln"))) return dir.FullName;
        throw new InvalidOperationException($"DiT.sln not found above {AppContext.BaseDirectory}.");
    }

    static Golden? TryOpen(string directory)
    {
        var manifestPath = Path.Combine(directory, "manifest.json");
        if (!File.Exists(manifestPath)) return null;
        return new Golden(directory, JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject());
    }

    /// <summary>Every kind of case some test runs, and the test that runs it. A manifest case of any other kind fails
    /// GoldenManifestTests, so no case is skipped silently; a test may only ask for kinds listed here.</summary>
    public static readonly IReadOnlyDictionary<string, string> KnownKinds = new Dictionary<string, string>
    {
        ["timestep_embedding"] = "DiT.Model.Tests.DiTGoldenTests",
        ["pos_embed"] = "DiT.Model.Tests.DiTGoldenTests",
        ["dit_forward"] = "DiT.Model.Tests.DiTGoldenTests",
        ["checkpoint_load"] = "DiT.Model.Tests.DiTGoldenTests (torch .pt), VaeParityTests (legacy VAE names)",
        ["vae_decode"] = "DiT.Model.Tests.VaeParityTests",
        ["vae_encode"] = "DiT.Model.Tests.VaeParityTests",
        ["diffusion_schedule"] = "DiT.Diffusion.Tests.ScheduleTests",
        ["q_sample"] = "DiT.Diffusion.Tests.ForwardProcessTests",
        ["p_mean_variance"] = "DiT.Diffusion.Tests.PMeanVarianceTests",
        ["ddim_sample"] = "DiT.Diffusion.Tests.DiTBackedTests",
        ["training_losses"] = "DiT.Diffusion.Tests.DiTBackedTests",
        ["dit_forward_with_cfg"] = "DiT.Diffusion.Tests.DiTBackedTests",
        ["ddpm_sample_loop"] = "DiT.Diffusion.Tests.SampleLoopTests",
        ["ddim_sample_loop"] = "DiT.Diffusion.Tests.SampleLoopTests",
        ["dpmpp_2m_sample_loop"] = "DiT.Diffusion.Tests.DpmSolverGoldenTests",
    };

    /// <summary>Names of the manifest's cases of the given kinds, for xUnit MemberData; a missing folder yields one case that fails.</summary>
    public static TheoryData<string> CaseNames(params string[] kinds)
    {
        foreach (var kind in kinds)
            if (!KnownKinds.ContainsKey(kind)) throw new InvalidOperationException($"Golden kind '{kind}' is not in Golden.KnownKinds.");
        var data = new TheoryData<string>();
        var golden = Instance.Value;
        if (golden is null) { data.Add(MissingCase); return data; }
        foreach (var c in golden.Manifest["cases"]!.AsArray())
            if (kinds.Contains(c!["kind"]!.GetValue<string>())) data.Add(c["name"]!.GetValue<string>());
        if (data.Count == 0) data.Add($"<no case of kind {string.Join("/", kinds)}>");
        return data;
    }

    public GoldenCase Case(string name)
    {
        var node = Manifest["cases"]!.AsArray().FirstOrDefault(c => c!["name"]!.GetValue<string>() == name)
            ?? throw new InvalidOperationException($"The manifest in {Directory} has no case '{name}'.");
        return new GoldenCase(this, node.AsObject());
    }

    public string PathOf(string file) => Path.Combine(Directory, file);

    /// <summary>A tensor from one of the folder's safetensors files (each file read once per test run).</summary>
    public Tensor Tensor(string file, string name)
    {
        lock (_lock)
        {
            if (!_files.TryGetValue(file, out var tensors))
            {
                _files[file] = tensors = Safetensors.Load(PathOf(file));
                // Cached for the whole run: a test's dispose scope that happened to trigger the load must not free them.
                foreach (var loaded in tensors.Values) loaded.DetachFromDisposeScope();
            }
            return tensors.TryGetValue(name, out var t) ? t
                : throw new InvalidOperationException($"{file} has no tensor '{name}'.");
        }
    }
}

/// <summary>One manifest case: its config, inputs and expected outputs with their tolerances.</summary>
public sealed class GoldenCase(Golden golden, JsonObject node)
{
    public string Name => node["name"]!.GetValue<string>();
    public string Kind => node["kind"]!.GetValue<string>();
    public JsonObject Node => node;
    public JsonObject Config => node["config"]?.AsObject() ?? new JsonObject();
    public IEnumerable<string> InputNames => node["inputs"]!.AsObject().Select(kv => kv.Key);
    public IEnumerable<string> OutputNames => node["outputs"]!.AsObject().Select(kv => kv.Key);

    public bool HasInput(string name) => node["inputs"]!.AsObject().ContainsKey(name);
    public bool HasOutput(string name) => node["outputs"]!.AsObject().ContainsKey(name);

    public Tensor Input(string name) => Load(node["inputs"]![name] ?? throw Missing("input", name));
    public Tensor Expected(string name) => Load(node["outputs"]![name] ?? throw Missing("output", name));
    public JsonObject Output(string name) => node["outputs"]![name]?.AsObject() ?? throw Missing("output", name);

    /// <summary>The output's recommended tolerance (with per-sample or per-channel atol where the manifest gives them).</summary>
    public Tolerance ToleranceOf(string output) => Tolerance.From(Output(output)["tolerance"]
        ?? throw new InvalidOperationException($"{Name}.{output} has no tolerance (informational output)."));

    /// <summary>True for outputs the manifest marks informational (no tolerance to check).</summary>
    public bool IsChecked(string output) => Output(output)["tolerance"] is not null;

    Tensor Load(JsonNode spec) => golden.Tensor(spec["file"]!.GetValue<string>(), spec["tensor"]!.GetValue<string>());
    InvalidOperationException Missing(string what, string name) => new($"Case {Name} has no {what} '{name}'.");
}
