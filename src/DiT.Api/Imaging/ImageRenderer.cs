using System.Diagnostics;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Options;

namespace DiT.Api.Imaging;

/// <summary>An encoded image file; <see cref="Generated"/> is null when it came from the cache.</summary>
public sealed record RenderedImage(byte[] Bytes, OutputFormat Output, int Width, int Height, string ModelFingerprint, GeneratedImage? Generated)
{
    public bool CacheHit => Generated is null;
}

/// <summary>
/// One image file for a request: from the cache, or from the engine then encoded with its parameters inside and cached.
/// Shared by POST /generate and the generation jobs, so that a job's image k and /generate with the same seed are the
/// same bytes. Throws what <see cref="IImageGenerator.GenerateAsync"/> throws.
/// </summary>
public sealed class ImageRenderer(IImageGenerator engine, IImageCache cache, IOptions<EngineOptions> engineOptions)
{
    /// <summary>Only requests whose seed the client chose are cached: a drawn seed is never asked for again.</summary>
    public bool Caches(bool seedGiven) => seedGiven && cache.IsEnabled;

    public async Task<RenderedImage> RenderAsync(GenerationRequest request, OutputFormat output, bool seedGiven,
        IProgress<SamplingProgress>? progress, CancellationToken ct)
    {
        var model = engine.Model ?? throw new EngineUnavailableException("The model is not loaded yet.");
        var guidanceMode = engineOptions.Value.Guidance;
        var key = Caches(seedGiven) ? new ImageKey(model.Fingerprint, model.Device, model.Dtype, guidanceMode, request) { Output = output } : null;
        if (key is not null && await cache.GetAsync(key, ct) is { } cached)
            return new RenderedImage(cached, output, model.ImageWidth, model.ImageHeight, model.Fingerprint, Generated: null);

        var image = await engine.GenerateAsync(request, progress, ct);
        var encodeStart = Stopwatch.GetTimestamp();
        byte[] bytes;
        using (var span = DiTTelemetry.Source.StartActivity("dit.encode"))
        {
            span?.SetTag("dit.format", output.Name);
            bytes = ImageEncoder.Encode(image.Image, output, ImageParameters.Of(request, model, image.ModelFingerprint, guidanceMode));
        }
        image = image with { GenerateTime = image.GenerateTime + Stopwatch.GetElapsedTime(encodeStart) };
        if (key is not null) await cache.SetAsync(key with { ModelFingerprint = image.ModelFingerprint }, bytes, ct);
        return new RenderedImage(bytes, output, image.Image.Width, image.Image.Height, image.ModelFingerprint, image);
    }
}
