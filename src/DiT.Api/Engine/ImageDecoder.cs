using static TorchSharp.torch;

namespace DiT.Api.Engine;

/// <summary>Latents (N, C, h, w) -> 8-bit images, one per row.</summary>
public interface IImageDecoder : IDisposable
{
    string Name { get; }
    int DownsampleFactor { get; }
    int ImageChannels { get; }
    IReadOnlyList<RawImage> DecodeToBytes(Tensor latents);
}

/// <summary>Pixel-space models: the "latents" are the images in [-1, 1].</summary>
public sealed class PixelSpaceDecoder(int channels) : IImageDecoder
{
    public string Name => "none (pixel space)";
    public int DownsampleFactor => 1;
    public int ImageChannels => channels;

    public IReadOnlyList<RawImage> DecodeToBytes(Tensor latents) => ImageBytes.FromUnitRange(latents);

    public void Dispose() { }
}

/// <summary>[-1, 1] images (N, C, H, W) -> row-major HWC bytes per image.</summary>
public static class ImageBytes
{
    public static IReadOnlyList<RawImage> FromUnitRange(Tensor images)
    {
        using var scope = NewDisposeScope();
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        var bytes = ((images.to(ScalarType.Float32) + 1) * 127.5).round().clamp(0, 255)
            .to(ScalarType.Byte).permute(0, 2, 3, 1).contiguous().cpu().data<byte>().ToArray();
        long per = h * w * c;
        return Enumerable.Range(0, (int)n)
            .Select(i => new RawImage(bytes.AsSpan((int)(i * per), (int)per).ToArray(), (int)w, (int)h, (int)c))
            .ToArray();
    }
}
