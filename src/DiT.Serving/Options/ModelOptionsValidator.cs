using DiT.Model.Checkpoints;
using DiT.Model.IO;
using DiT.Serving.Startup;
using Microsoft.Extensions.Options;

namespace DiT.Serving.Options;

/// <summary>Fails start-up with a clear message when a configured model file is missing, not a regular file
/// (a FIFO would block the loader forever), or unreadable.</summary>
public sealed class ModelOptionsValidator : IValidateOptions<ModelOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelOptions options)
    {
        var errors = new List<string>();
        if (!options.UsesDefaultModel) CheckCheckpoint(options.CheckpointPath!, errors);
        if (!options.IsPixelSpace && !File.Exists(options.VaePath) && !Directory.Exists(options.VaePath))
            errors.Add($"Model:VaePath '{options.VaePath}' is neither a file nor a folder (use \"none\" for pixel-space models).");
        else if (!options.IsPixelSpace && File.Exists(options.VaePath)) CheckRegular("Model:VaePath", options.VaePath, errors);
        if (!string.IsNullOrWhiteSpace(options.ClassesPath) && !File.Exists(options.ClassesPath))
            errors.Add($"Model:ClassesPath '{options.ClassesPath}' does not exist.");
        else if (!string.IsNullOrWhiteSpace(options.ClassesPath)) CheckRegular("Model:ClassesPath", options.ClassesPath, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    static void CheckCheckpoint(string path, List<string> errors)
    {
        if (!File.Exists(path))
        {
            errors.Add($"Model:CheckpointPath '{path}' does not exist (full path '{Path.GetFullPath(path)}'); leave it empty to serve the built-in untrained default model.");
            return;
        }
        if (!CheckRegular("Model:CheckpointPath", path, errors)) return;
        try
        {
            if (!TorchPickle.IsZipCheckpoint(path)) Safetensors.ReadHeader(path);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            errors.Add($"Model:CheckpointPath '{path}' is neither a PyTorch .pt checkpoint nor a readable safetensors file: {ErrorText.WithoutPath(ex, path)}");
        }
    }

    static bool CheckRegular(string setting, string path, List<string> errors)
    {
        if (RegularFile.Is(path)) return true;
        errors.Add($"{setting} '{path}' is not a regular file (a FIFO, socket or device cannot be read as one).");
        return false;
    }
}
