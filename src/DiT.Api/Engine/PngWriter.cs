using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Api.Engine;

/// <summary>Encodes engine output as PNG (grey for one channel, RGB for three); runs off the engine thread.</summary>
public static class PngWriter
{
    static readonly PngEncoder Encoder = new() { CompressionLevel = PngCompressionLevel.BestSpeed };

    public static byte[] Encode(RawImage image)
    {
        using var stream = new MemoryStream();
        switch (image.Channels)
        {
            case 1:
                using (var grey = Image.LoadPixelData<L8>(image.Pixels, image.Width, image.Height))
                    grey.SaveAsPng(stream, Encoder);
                break;
            case 3:
                using (var rgb = Image.LoadPixelData<Rgb24>(image.Pixels, image.Width, image.Height))
                    rgb.SaveAsPng(stream, Encoder);
                break;
            default:
                throw new NotSupportedException($"Cannot encode a {image.Channels}-channel image as PNG.");
        }
        return stream.ToArray();
    }
}
