using static TorchSharp.torch;

namespace DiT.Model;

/// <summary>Converts decoded images in [-1, 1] to 8-bit pixels ready for a PNG encoder.</summary>
public static class ImageTensors
{
    /// <summary>
    /// (N, C, H, W) in [-1, 1] -> (N, H, W, C) bytes on the CPU: clamp, (x + 1) / 2 * 255, round half up, as
    /// torchvision's save_image does for DiT's sample.py. C stays as it is (1 = grey, 3 = RGB).
    /// </summary>
    public static Tensor ToUInt8Nhwc(Tensor images)
    {
        if (images.dim() != 4)
            throw new ArgumentException($"Expected images shaped (N, C, H, W); got [{string.Join(", ", images.shape)}].", nameof(images));
        using var scope = NewDisposeScope();
        var x = images.detach().to(ScalarType.Float32).Clamped(-1, 1);                // (N, C, H, W)
        var pixels = x.Plus(1).Times(127.5).Plus(0.5).floor().Clamped(0, 255);            // (N, C, H, W), integral values
        return pixels.permute(0, 2, 3, 1).to(ScalarType.Byte).cpu().contiguous()     // (N, H, W, C)
            .MoveToOuterDisposeScope();
    }

    /// <summary>One interleaved H*W*C byte array per image (RGB or grey), row-major from the top-left pixel.</summary>
    public static byte[][] ToImageBytes(Tensor images)
    {
        using var nhwc = ToUInt8Nhwc(images);
        var all = nhwc.bytes.ToArray();
        long perImage = nhwc.shape[1] * nhwc.shape[2] * nhwc.shape[3];
        return Enumerable.Range(0, (int)nhwc.shape[0])
            .Select(i => all.AsSpan((int)(i * perImage), (int)perImage).ToArray())
            .ToArray();
    }
}
