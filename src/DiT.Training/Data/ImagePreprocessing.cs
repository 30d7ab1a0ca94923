using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training.Data;

/// <summary>
/// DiT's input transform: centre crop to a square, bicubic resize to the image size, pixels to [-1, 1] (the mirror is
/// taken on the tensor). Fashion-MNIST asked for at a size above its 28 is padded instead, centred on its black
/// background (-1), as LeNet padded MNIST to 32x32: the 28x28 centre is the original image, bit for bit.
/// </summary>
public static class ImagePreprocessing
{
    /// <summary>Image <paramref name="index"/> of <paramref name="data"/> as (C, S, S) float32 in [-1, 1] on the CPU (padded for Fashion-MNIST, see above).</summary>
    public static Tensor ToTensor(IImageDataset data, int index, int size, int channels)
    {
        using var image = data.Read(index);
        if (data is not FashionMnistDataset || size <= image.Width) return ToTensor(image, size, channels);
        using var original = ToTensor(image, image.Width, channels);            // (C, 28, 28)
        return PadWithBackground(original, size);                               // (C, S, S)
    }

    /// <summary>(..., h, w) -> (..., S, S): centred, the border filled with -1 (black). Left/top get the smaller half of an odd margin.</summary>
    public static Tensor PadWithBackground(Tensor images, int size)
    {
        long h = images.shape[^2], w = images.shape[^1];
        if (h > size || w > size) throw new ArgumentException($"Cannot pad {h}x{w} images to {size}x{size}.", nameof(images));
        long top = (size - h) / 2, left = (size - w) / 2;
        return nn.functional.pad(images, [left, size - w - left, top, size - h - top], PaddingModes.Constant, -1.0);
    }

    /// <summary>The inverse of <see cref="PadWithBackground"/>: the centred (..., h, w) window of (..., S, S) images (a view).</summary>
    public static Tensor CropCentre(Tensor images, int height, int width)
    {
        long size = images.shape[^1];
        return images.narrow(-2, (images.shape[^2] - height) / 2, height).narrow(-1, (size - width) / 2, width);
    }

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
