using DiT.Api.Engine;

namespace DiT.Api.Caching;

/// <summary>PNG cache for seeded requests. Failures are the cache's problem: it logs and answers "miss".</summary>
public interface IImageCache
{
    /// <summary>False when caching is switched off (Cache:Enabled).</summary>
    bool IsEnabled { get; }

    Task<byte[]?> GetAsync(ImageKey key, CancellationToken ct);
    Task SetAsync(ImageKey key, byte[] png, CancellationToken ct);
}

/// <summary>Everything that changes the image: the model (weights + autoencoder), where it runs, and the request.</summary>
public sealed record ImageKey(string ModelFingerprint, string Device, string Dtype, string GuidanceMode, GenerationRequest Request);
