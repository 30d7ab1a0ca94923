using DiT.Model;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using static TorchSharp.torch;

namespace DiT.Training.Evaluation;

/// <summary>Writes images as a PNG grid: one row per class, scaled up with nearest-neighbour so small images stay crisp.</summary>
public static class SampleGrid
{
    /// <param name="images">(rows * columns, C, H, W) in [-1, 1], row-major (C = 1 grey or 3 RGB).</param>
    public static void Save(string path, Tensor images, int columns, int scale = 2, int gap = 2)
    {
        if (images.dim() != 4 || images.shape[0] % columns != 0)
            throw new ArgumentException($"Expected (rows * {columns}, C, H, W) images; got [{string.Join(", ", images.shape)}].", nameof(images));
        int count = (int)images.shape[0], rows = count / columns, h = (int)images.shape[2], w = (int)images.shape[3];
        var pixels = ImageTensors.ToImageBytes(images);
        bool grey = images.shape[1] == 1;
        using var grid = new Image<Rgb24>(columns * (w + gap) + gap, rows * (h + gap) + gap, new Rgb24(255, 255, 255));
        for (int i = 0; i < count; i++)
        {
            using Image tile = grey ? Image.LoadPixelData<L8>(pixels[i], w, h) : Image.LoadPixelData<Rgb24>(pixels[i], w, h);
            var at = new Point(gap + (i % columns) * (w + gap), gap + (i / columns) * (h + gap));
            grid.Mutate(g => g.DrawImage(tile, at, 1f));
        }
        grid.Mutate(g => g.Resize(grid.Width * scale, grid.Height * scale, KnownResamplers.NearestNeighbor));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        grid.SaveAsPng(path);
    }
}
