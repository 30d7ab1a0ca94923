using System.ComponentModel.DataAnnotations;

namespace DiT.Serving.Options;

/// <summary>Which model the engine serves and where it runs (section "Model"). The values here are appsettings.json's
/// (DefaultSettingsTests keeps the two equal).</summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>DiT checkpoint file (default: the embedded Fashion-MNIST model, models/fashion-mnist/);
    /// empty serves the built-in untrained model (see DefaultModel).</summary>
    public string? CheckpointPath { get; set; } = "models/fashion-mnist/dit-fmnist.safetensors";

    /// <summary>Autoencoder file or folder, or "none" for pixel-space models (e.g. models/fashion-mnist-latent/vae with
    /// models/fashion-mnist-latent/dit-latent.safetensors, the latent Fashion-MNIST model).</summary>
    [Required] public string VaePath { get; set; } = "none";

    /// <summary>"auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".</summary>
    [Required, RegularExpression("^(auto|cpu|cuda(:[0-9]+)?)$", ErrorMessage = "Model:Device must be auto, cpu, cuda or cuda:N.")]
    public string Device { get; set; } = "auto";

    /// <summary>Weights and activations dtype: float32, bfloat16 or float16 (fp32 on CPU: the others are much slower there).</summary>
    [Required, RegularExpression("^(float32|bfloat16|float16)$", ErrorMessage = "Model:Dtype must be float32, bfloat16 or float16.")]
    public string Dtype { get; set; } = "float32";

    /// <summary>On CUDA, let float32 matmuls and convolutions use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32
    /// and cudnn.allow_tf32): several times faster on Ampere and later, ~1e-3 relative error per product.</summary>
    public bool AllowTf32 { get; set; } = true;

    /// <summary>Optional class names file (one name per line, synonyms comma-separated); default: classes.txt beside the checkpoint.</summary>
    public string? ClassesPath { get; set; } = "";

    /// <summary>
    /// A relative path that does not exist from the working directory is taken from the app's own folder, where the
    /// embedded model is copied, so `dotnet run --project src/DiT.Api` works from any directory.
    /// </summary>
    public void ResolveRelativePaths()
    {
        CheckpointPath = FromAppFolderIfMissing(CheckpointPath);
        ClassesPath = FromAppFolderIfMissing(ClassesPath);
        if (!IsPixelSpace) VaePath = FromAppFolderIfMissing(VaePath)!;
    }

    static string? FromAppFolderIfMissing(string? path) =>
        string.IsNullOrWhiteSpace(path) || Path.IsPathRooted(path) || File.Exists(path) || Directory.Exists(path)
            ? path
            : Path.Combine(AppContext.BaseDirectory, path);

    public bool UsesDefaultModel => string.IsNullOrWhiteSpace(CheckpointPath);
    public bool IsPixelSpace => string.Equals(VaePath, "none", StringComparison.OrdinalIgnoreCase);
}
