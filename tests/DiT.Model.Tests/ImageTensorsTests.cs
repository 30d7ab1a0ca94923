using static TorchSharp.torch;

namespace DiT.Model.Tests;

public sealed class ImageTensorsTests
{
    [Fact]
    public void MinusOneToOneMapsToBytesAsSaveImageDoes()
    {
        // torchvision save_image(normalize=True, value_range=(-1, 1)): clamp, (x+1)/2, *255 + 0.5, truncate.
        using var grey = tensor(new float[] { -2f, -1f, 0f, 1f, 3f, 0.5f }).reshape(1, 1, 2, 3);

        var bytes = ImageTensors.ToImageBytes(grey);

        Assert.Single(bytes);
        Assert.Equal(new byte[] { 0, 0, 128, 255, 255, 191 }, bytes[0]);
    }

    [Fact]
    public void RgbBatchIsInterleavedPerPixelAndSplitPerImage()
    {
        // image 0: R = -1, G = 0, B = 1 everywhere; image 1: all 1.
        using var first = stack([full(2, 2, -1f), zeros(2, 2), ones(2, 2)]);
        using var batch = stack([first, ones(3, 2, 2)]);

        using var nhwc = ImageTensors.ToUInt8Nhwc(batch);
        var images = ImageTensors.ToImageBytes(batch);

        Assert.Equal([2L, 2, 2, 3], nhwc.shape);
        Assert.Equal(ScalarType.Byte, nhwc.dtype);
        Assert.Equal(2, images.Length);
        Assert.Equal(Enumerable.Repeat(new byte[] { 0, 128, 255 }, 4).SelectMany(b => b), images[0]);
        Assert.All(images[1], b => Assert.Equal(255, b));
    }
}
