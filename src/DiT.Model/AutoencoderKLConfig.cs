using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiT.Model;

/// <summary>
/// The fields of a diffusers AutoencoderKL <c>config.json</c> that shape the network. Unknown fields are
/// ignored; fields that would change the architecture into something this port does not build are rejected.
/// </summary>
public sealed record AutoencoderKLConfig(
    int[] BlockOutChannels,
    int LayersPerBlock = 1,
    int LatentChannels = 4,
    int NormNumGroups = 32,
    int InChannels = 3,
    int OutChannels = 3,
    double ScalingFactor = 0.18215,
    int SampleSize = 32,
    bool UseQuantConv = true,
    bool UsePostQuantConv = true,
    bool MidBlockAddAttention = true)
{
    /// <summary>stabilityai/sd-vae-ft-mse and sd-vae-ft-ema, the VAE DiT's sample.py decodes with.</summary>
    public static AutoencoderKLConfig SdVaeFtMse { get; } =
        new([128, 256, 512, 512], LayersPerBlock: 2, LatentChannels: 4, NormNumGroups: 32, SampleSize: 256);

    /// <summary>Spatial downsampling between images and latents: 2 per block except the last.</summary>
    public int DownsampleFactor => 1 << (BlockOutChannels.Length - 1);

    /// <summary>Parses a diffusers config (the text of config.json, or the safetensors <c>config</c> metadata).</summary>
    public static AutoencoderKLConfig FromJson(string json, string source)
    {
        JsonObject root;
        try { root = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidDataException($"{source}: the VAE config is empty."); }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{source}: the VAE config is not a JSON object ({e.Message}).");
        }
        try { return FromJson(root, source); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new InvalidDataException($"{source}: a VAE config field has the wrong type ({e.Message}).");
        }
    }

    static AutoencoderKLConfig FromJson(JsonObject root, string source)
    {
        var blocks = root["block_out_channels"]?.AsArray().Select(n => n!.GetValue<int>()).ToArray()
            ?? throw new InvalidDataException($"{source}: the VAE config has no block_out_channels.");
        RequireAll(root, "down_block_types", "DownEncoderBlock2D", blocks.Length, source);
        RequireAll(root, "up_block_types", "UpDecoderBlock2D", blocks.Length, source);
        if (root["act_fn"]?.GetValue<string>() is { } act && act != "silu")
            throw new InvalidDataException($"{source}: act_fn '{act}' is not supported (only 'silu').");
        if (root["shift_factor"]?.GetValue<double>() is { } shift && shift != 0)
            throw new InvalidDataException($"{source}: shift_factor {shift} is not supported (only SD-style VAEs without a latent shift).");

        var config = new AutoencoderKLConfig(
            blocks,
            Int(root, "layers_per_block") ?? 1,
            Int(root, "latent_channels") ?? 4,
            Int(root, "norm_num_groups") ?? 32,
            Int(root, "in_channels") ?? 3,
            Int(root, "out_channels") ?? 3,
            root["scaling_factor"]?.GetValue<double>() ?? 0.18215,
            Int(root, "sample_size") ?? 32,
            root["use_quant_conv"]?.GetValue<bool>() ?? true,
            root["use_post_quant_conv"]?.GetValue<bool>() ?? true,
            root["mid_block_add_attention"]?.GetValue<bool>() ?? true);
        config.Validate(source);
        return config;
    }

    /// <summary>
    /// The diffusers <c>config.json</c> of this architecture (what <see cref="FromJson(string, string)"/> reads back, with
    /// the fields diffusers itself writes: class name, block types, act_fn), for a VAE saved in the hub layout.
    /// </summary>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["_class_name"] = "AutoencoderKL",
            ["act_fn"] = "silu",
            ["block_out_channels"] = new JsonArray(BlockOutChannels.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            ["down_block_types"] = new JsonArray(BlockOutChannels.Select(_ => (JsonNode?)JsonValue.Create("DownEncoderBlock2D")).ToArray()),
            ["up_block_types"] = new JsonArray(BlockOutChannels.Select(_ => (JsonNode?)JsonValue.Create("UpDecoderBlock2D")).ToArray()),
            ["in_channels"] = InChannels,
            ["out_channels"] = OutChannels,
            ["latent_channels"] = LatentChannels,
            ["layers_per_block"] = LayersPerBlock,
            ["norm_num_groups"] = NormNumGroups,
            ["sample_size"] = SampleSize,
            ["scaling_factor"] = ScalingFactor,
            ["force_upcast"] = true,
            ["use_quant_conv"] = UseQuantConv,
            ["use_post_quant_conv"] = UsePostQuantConv,
            ["mid_block_add_attention"] = MidBlockAddAttention,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Rejects sizes the network cannot be built with, naming the field.</summary>
    public void Validate(string source)
    {
        if (BlockOutChannels.Length == 0 || BlockOutChannels.Any(c => c <= 0))
            throw new InvalidDataException($"{source}: block_out_channels must be a non-empty list of positive sizes.");
        if (NormNumGroups <= 0 || BlockOutChannels.Any(c => c % NormNumGroups != 0))
            throw new InvalidDataException($"{source}: every block_out_channels entry must be divisible by norm_num_groups ({NormNumGroups}).");
        if (LayersPerBlock <= 0 || LatentChannels <= 0 || InChannels <= 0 || OutChannels <= 0)
            throw new InvalidDataException($"{source}: layers_per_block, latent_channels, in_channels and out_channels must be positive.");
        if (!(ScalingFactor > 0))
            throw new InvalidDataException($"{source}: scaling_factor must be positive (got {ScalingFactor}).");
    }

    static int? Int(JsonObject root, string name) => root[name]?.GetValue<int>();

    static void RequireAll(JsonObject root, string field, string allowed, int count, string source)
    {
        if (root[field] is not JsonArray types) return;
        var names = types.Select(n => n!.GetValue<string>()).ToArray();
        if (names.Length != count || names.Any(n => n != allowed))
            throw new InvalidDataException(
                $"{source}: {field} must be {count} x '{allowed}' (one per block_out_channels entry); got [{string.Join(", ", names)}].");
    }
}
