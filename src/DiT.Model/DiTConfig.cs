using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiT.Model;

/// <summary>
/// The hyper-parameters of a DiT (the keyword arguments of the reference <c>models.DiT</c>).
/// <paramref name="InputSize"/> is the latent side length (32 for 256x256 images through the SD VAE).
/// </summary>
public sealed record DiTConfig(
    int InputSize,
    int PatchSize,
    int InChannels,
    int HiddenSize,
    int Depth,
    int NumHeads,
    double MlpRatio = 4.0,
    double ClassDropoutProb = 0.1,
    int NumClasses = 1000,
    bool LearnSigma = true)
{
    /// <summary>Timestep frequencies fed to the timestep MLP (fixed in the reference).</summary>
    public const int FrequencyEmbeddingSize = 256;

    /// <summary>2 x InChannels with a learned variance (eps and the variance interpolation values), else InChannels.</summary>
    public int OutChannels => LearnSigma ? InChannels * 2 : InChannels;

    /// <summary>Tokens per image: (InputSize / PatchSize)^2.</summary>
    public int GridSize => InputSize / PatchSize;
    public int NumTokens => GridSize * GridSize;
    public int MlpHiddenSize => (int)(HiddenSize * MlpRatio);

    /// <summary>Rows of the label table: one extra "null" row (id NumClasses) when labels can be dropped for CFG.</summary>
    public int LabelTableRows => NumClasses + (ClassDropoutProb > 0 ? 1 : 0);

    // ---------------------------------------------------------------- presets

    static readonly (string Size, int Depth, int Hidden, int Heads)[] Sizes =
        [("S", 12, 384, 6), ("B", 12, 768, 12), ("L", 24, 1024, 16), ("XL", 28, 1152, 16)];

    /// <summary>The paper's twelve models, "DiT-S/2" ... "DiT-XL/8", at input 32 (256x256 images), 1000 classes.</summary>
    public static IReadOnlyDictionary<string, DiTConfig> Presets { get; } =
        (from s in Sizes
         from p in new[] { 2, 4, 8 }
         select KeyValuePair.Create($"DiT-{s.Size}/{p}", new DiTConfig(32, p, 4, s.Hidden, s.Depth, s.Heads)))
        .ToDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>A preset by name, optionally with another input size, class count, channel count or sigma setting.</summary>
    public static DiTConfig Preset(string name, int? inputSize = null, int? numClasses = null, int? inChannels = null, bool? learnSigma = null)
    {
        if (!Presets.TryGetValue(name, out var preset))
            throw new ArgumentException($"Unknown DiT model '{name}'. Known models: {string.Join(", ", Presets.Keys)}.");
        return (preset with
        {
            InputSize = inputSize ?? preset.InputSize,
            NumClasses = numClasses ?? preset.NumClasses,
            InChannels = inChannels ?? preset.InChannels,
            LearnSigma = learnSigma ?? preset.LearnSigma,
        }).Validated();
    }

    /// <summary>Heads of the preset with this width (384 -> 6, 768 -> 12, 1024/1152 -> 16), else 64-dimensional heads.</summary>
    public static int DefaultHeads(int hiddenSize) =>
        Sizes.FirstOrDefault(s => s.Hidden == hiddenSize) is { Hidden: > 0 } s ? s.Heads : Math.Max(1, hiddenSize / 64);

    /// <summary>This config, or an ArgumentException naming every inconsistent setting.</summary>
    public DiTConfig Validated()
    {
        var errors = new List<string>();
        if (PatchSize < 1) errors.Add($"patch size {PatchSize} must be >= 1");
        else if (InputSize < PatchSize || InputSize % PatchSize != 0) errors.Add($"input size {InputSize} must be a positive multiple of patch size {PatchSize}");
        if (InChannels < 1) errors.Add($"in channels {InChannels} must be >= 1");
        if (Depth < 1) errors.Add($"depth {Depth} must be >= 1");
        if (NumHeads < 1 || HiddenSize < 1 || HiddenSize % NumHeads != 0) errors.Add($"hidden size {HiddenSize} must be a positive multiple of the head count {NumHeads}");
        if (HiddenSize % 4 != 0) errors.Add($"hidden size {HiddenSize} must be a multiple of 4 (2-D sin-cos position table)");
        if (MlpRatio <= 0) errors.Add($"mlp ratio {MlpRatio} must be > 0");
        if (ClassDropoutProb is < 0 or >= 1) errors.Add($"class dropout probability {ClassDropoutProb} must be in [0, 1)");
        if (NumClasses < 1) errors.Add($"class count {NumClasses} must be >= 1");
        if (errors.Count > 0) throw new ArgumentException($"Invalid DiT config: {string.Join("; ", errors)}.");
        return this;
    }

    // ---------------------------------------------------------------- size and cost

    /// <summary>Every parameter, pos_embed included (as the reference's sum of model.parameters()): 675,129,632 for DiT-XL/2 at 32.</summary>
    public long ParameterCount()
    {
        long d = HiddenSize, h = MlpHiddenSize, pp = (long)PatchSize * PatchSize;
        long block = (3 * d * d + 3 * d) + (d * d + d) + (h * d + h) + (d * h + d) + (6 * d * d + 6 * d);
        long embeddings = (d * InChannels * pp + d) + (FrequencyEmbeddingSize * d + d + d * d + d) + LabelTableRows * d + (long)NumTokens * d;
        long final = (2 * d * d + 2 * d) + (d * pp * OutChannels + pp * OutChannels);
        return embeddings + Depth * block + final;
    }

    /// <summary>
    /// Forward cost of one image in GMACs, which the paper calls "Gflops" (fvcore's convention: one multiply-add = one flop).
    /// Counts the patch conv, every linear (token-wise and conditioning) and the two attention matmuls; 118.6 for DiT-XL/2 at 32.
    /// Real floating-point operations are about twice this.
    /// </summary>
    public double Gflops()
    {
        double d = HiddenSize, h = MlpHiddenSize, n = NumTokens, pp = PatchSize * PatchSize;
        double tokenwise = n * (3 * d * d + d * d + 2 * h * d);
        double attention = 2 * n * n * d;
        double block = tokenwise + attention + 6 * d * d;
        double embed = n * d * InChannels * pp + FrequencyEmbeddingSize * d + d * d;
        double final = 2 * d * d + n * d * pp * OutChannels;
        return (embed + Depth * block + final) / 1e9;
    }

    // ---------------------------------------------------------------- JSON (the reference's snake_case keyword names)

    /// <summary>The config as the reference's keyword arguments, e.g. {"input_size": 32, "patch_size": 2, ...}.</summary>
    public string ToJson() => new JsonObject
    {
        ["input_size"] = InputSize,
        ["patch_size"] = PatchSize,
        ["in_channels"] = InChannels,
        ["hidden_size"] = HiddenSize,
        ["depth"] = Depth,
        ["num_heads"] = NumHeads,
        ["mlp_ratio"] = MlpRatio,
        ["class_dropout_prob"] = ClassDropoutProb,
        ["num_classes"] = NumClasses,
        ["learn_sigma"] = LearnSigma,
    }.ToJsonString();

    /// <summary>Parses <see cref="ToJson"/> output (or the golden manifest's / safetensors metadata's config); absent optional keys take the defaults.</summary>
    public static DiTConfig FromJson(string json)
    {
        JsonObject node;
        try { node = JsonNode.Parse(json)?.AsObject() ?? throw new FormatException("empty"); }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        { throw new FormatException("A DiT config must be a JSON object with input_size, patch_size, ...", e); }
        return FromJson(node);
    }

    /// <summary>Reads a config from a JSON object with the reference's keyword names.</summary>
    public static DiTConfig FromJson(JsonObject node)
    {
        int Int(string key) => node[key]?.GetValue<int>() ?? throw new FormatException($"DiT config JSON lacks '{key}'.");
        int hidden = Int("hidden_size");
        return new DiTConfig(
            Int("input_size"), Int("patch_size"), node["in_channels"]?.GetValue<int>() ?? 4, hidden, Int("depth"),
            node["num_heads"]?.GetValue<int>() ?? DefaultHeads(hidden),
            node["mlp_ratio"]?.GetValue<double>() ?? 4.0,
            node["class_dropout_prob"]?.GetValue<double>() ?? 0.1,
            node["num_classes"]?.GetValue<int>() ?? 1000,
            node["learn_sigma"]?.GetValue<bool>() ?? true).Validated();
    }

}
