using DiT.Model.Checkpoints;
using Microsoft.Extensions.Options;

namespace DiT.Api.Options;

/// <summary>Fails start-up with a clear message when a configured model file is missing or unreadable.</summary>
public sealed class ModelOptionsValidator : IValidateOptions<ModelOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelOptions options)
    {
        var errors = new List<string>();
        if (!options.UsesDefaultModel) CheckCheckpoint(options.CheckpointPath!, errors);
        if (!options.IsPixelSpace && !File.Exists(options.VaePath) && !Directory.Exists(options.VaePath))
            errors.Add($"Model:VaePath '{options.VaePath}' is neither a file nor a folder (use \"none\" for pixel-space models).");
        if (!string.IsNullOrWhiteSpace(options.ClassesPath) && !File.Exists(options.ClassesPath))
            errors.Add($"Model:ClassesPath '{options.ClassesPath}' does not exist.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    static void CheckCheckpoint(string path, List<string> errors)
    {
        if (!File.Exists(path))
        {
            errors.Add($"Model:CheckpointPath '{path}' does not exist (full path '{Path.GetFullPath(path)}'); leave it empty to serve the built-in untrained default model.");
            return;
        }
        if (TorchPickle.IsZipCheckpoint(path)) return;
        try { Safetensors.ReadHeader(path); }
        catch (Exception ex) when (ex is InvalidDataException or IOException or System.Text.Json.JsonException or ArgumentException)
        {
            errors.Add($"Model:CheckpointPath '{path}' is neither a PyTorch .pt checkpoint nor a readable safetensors file ({ex.Message}).");
        }
    }
}
