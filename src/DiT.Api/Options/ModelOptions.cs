using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Options;

/// <summary>Which model the engine serves and where it runs (section "Model").</summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>DiT checkpoint file; empty serves the built-in untrained default model (see DefaultModel).</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Autoencoder file or folder, or "none" for pixel-space models.</summary>
    [Required] public string VaePath { get; set; } = "none";

    /// <summary>"auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".</summary>
    [Required, RegularExpression("^(auto|cpu|cuda(:[0-9]+)?)$", ErrorMessage = "Model:Device must be auto, cpu, cuda or cuda:N.")]
    public string Device { get; set; } = "auto";

    /// <summary>Weights and activations dtype: float32, bfloat16 or float16 (fp32 on CPU: the others are much slower there).</summary>
    [Required, RegularExpression("^(float32|bfloat16|float16)$", ErrorMessage = "Model:Dtype must be float32, bfloat16 or float16.")]
    public string Dtype { get; set; } = "float32";

    /// <summary>Optional class names file (one name per line, synonyms comma-separated); default: classes.txt beside the checkpoint.</summary>
    public string? ClassesPath { get; set; }

    public bool UsesDefaultModel => string.IsNullOrWhiteSpace(CheckpointPath);
    public bool IsPixelSpace => string.Equals(VaePath, "none", StringComparison.OrdinalIgnoreCase);
}
