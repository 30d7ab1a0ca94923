using DiT.Diffusion;
using DiT.Serving.Engine;

namespace DiT.Api.Imaging;

/// <summary>Encoded image cache for seeded requests, as <see cref="ImageRenderer"/> needs it (Caching/ implements it).
/// Failures are the cache's problem: it logs and answers "miss".</summary>
public interface IImageCache
{
    /// <summary>False when caching is switched off (Cache:Enabled).</summary>
    bool IsEnabled { get; }

    Task<byte[]?> GetAsync(ImageKey key, CancellationToken ct);
    Task SetAsync(ImageKey key, byte[] image, CancellationToken ct);
}

/// <summary>Everything that changes the image: the model (weights + autoencoder), where it runs, the request, and the file format.</summary>
public sealed record ImageKey(string ModelFingerprint, string Device, string Dtype, GuidanceMode GuidanceMode, GenerationRequest Request)
{
    public OutputFormat Output { get; init; } = OutputFormat.Png;
}
