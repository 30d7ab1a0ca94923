using System.Text.Json.Nodes;
using DiT.Serving.Classes;

namespace DiT.Serving.Engine;

/// <summary>What /model shows about the loaded model, and what validation needs (classes, image size).
/// <see cref="Source"/> is the checkpoint's full path, for the service itself; responses show <see cref="FileNameOf"/>.</summary>
public sealed record ServedModel(
    string Name,
    JsonObject Config,
    long Parameters,
    double Gflops,
    string Device,
    string Dtype,
    string Fingerprint,
    string Source,
    bool IsUntrainedDefault,
    string Autoencoder,
    int ImageWidth,
    int ImageHeight,
    int ImageChannels,
    bool SupportsGuidance,
    ClassCatalog Classes)
{
    /// <summary>A path as clients may see it: the file or folder name, never where it lies on the server.</summary>
    public static string FileNameOf(string source) =>
        source.Contains(Path.DirectorySeparatorChar) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(source)) : source;
}
