using System.Text.Json.Nodes;
using DiT.Api.Classes;

namespace DiT.Api.Engine;

/// <summary>What /model shows about the loaded model, and what validation needs (classes, image size).</summary>
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
    ClassCatalog Classes);
