using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training.Data;

/// <summary>DiT's input transform: centre crop to a square, bicubic resize to the image size, pixels to [-1, 1] (the mirror is taken on the tensor).</summary>
public static class ImagePreprocessing
{
    /// <summary>(C, S, S) float32 in [-1, 1] on the CPU; C = 1 (grey) or 3 (RGB). Does not dispose <paramref name="image"/>.</summary>
    public static Tensor ToTensor(Image image, int size, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "images have 1 (grey) or 3 (RGB) channels");
        using var square = image.Clone(x =>
        {
            if (image.Width != size || image.Height != size)
                x.Resize(new ResizeOptions { Size = new SixLabors.ImageSharp.Size(size, size), Mode = ResizeMode.Crop, Position = AnchorPositionMode.Center, Sampler = KnownResamplers.Bicubic });
        });
        var bytes = new byte[size * size * channels];
        if (channels == 1) { using var grey = square.CloneAs<L8>(); grey.CopyPixelDataTo(bytes); }
        else { using var rgb = square.CloneAs<Rgb24>(); rgb.CopyPixelDataTo(bytes); }

        using var scope = NewDisposeScope();
        var hwc = tensor(bytes, [size, size, channels], ScalarType.Byte);      // (H, W, C) uint8
        return hwc.permute(2, 0, 1).to(ScalarType.Float32).DividedBy(127.5).Minus(1.0) // (C, H, W) in [-1, 1]
            .MoveToOuterDisposeScope();
    }
}
