using System.Buffers.Binary;
using System.IO.Compression;
using DiT.Model.IO;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training.Data;

/// <summary>
/// The Fashion-MNIST training split (or, with <see cref="OpenTest"/>, the test split t10k-*) as IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, optionally .gz),
/// e.g. /usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist. 28x28 grey images, 10 classes.
/// </summary>
public sealed class FashionMnistDataset : IImageDataset
{
    public static readonly IReadOnlyList<string> Classes =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    const string ImagesFile = "train-images-idx3-ubyte", LabelsFile = "train-labels-idx1-ubyte";
    const string TestImagesFile = "t10k-images-idx3-ubyte", TestLabelsFile = "t10k-labels-idx1-ubyte";

    readonly byte[] _pixels, _labels;
    readonly int _rows, _cols;

    FashionMnistDataset(string source, byte[] pixels, byte[] labels, int rows, int cols, string fingerprint)
        => (Source, _pixels, _labels, _rows, _cols, Fingerprint) = (source, pixels, labels, rows, cols, fingerprint);

    public string Source { get; }
    public IReadOnlyList<string> ClassNames => Classes;
    public int Count => _labels.Length;
    public string Fingerprint { get; }
    public int LabelOf(int index) => _labels[index];

    public static bool IsPresent(string folder) => Find(folder, ImagesFile) is not null;

    /// <summary>The training split; with <paramref name="roots"/> its files must resolve inside them (see <see cref="ImageDatasets.Open"/>).</summary>
    public static FashionMnistDataset Open(string folder, PathRoots? roots = null) => Open(folder, ImagesFile, LabelsFile, roots);

    /// <summary>The 10,000-image test split (t10k-*), for evaluation.</summary>
    public static FashionMnistDataset OpenTest(string folder) => Open(folder, TestImagesFile, TestLabelsFile, roots: null);

    static FashionMnistDataset Open(string folder, string imagesFile, string labelsFile, PathRoots? roots)
    {
        var imagesPath = Find(folder, imagesFile) ?? throw new DatasetException($"'{folder}' has no {imagesFile}(.gz).");
        var labelsPath = Find(folder, labelsFile) ?? throw new DatasetException($"'{folder}' has {imagesFile} but no {labelsFile}(.gz).");
        imagesPath = ImageDatasets.Confine(imagesPath, folder, roots, isFile: true);
        labelsPath = ImageDatasets.Confine(labelsPath, folder, roots, isFile: true);
        var images = ReadIdx(imagesPath, magic: 0x00000803, dims: 3);
        var labels = ReadIdx(labelsPath, magic: 0x00000801, dims: 1);
        if (images.Shape[0] != labels.Shape[0])
            throw new DatasetException($"'{imagesPath}' holds {images.Shape[0]} images but '{labelsPath}' holds {labels.Shape[0]} labels.");
        if (images.Shape[0] == 0) throw new DatasetException($"'{imagesPath}' holds no images.");
        int bad = Array.FindIndex(labels.Data, l => l >= Classes.Count);
        if (bad >= 0) throw new DatasetException($"'{labelsPath}': label {labels.Data[bad]} at index {bad} is not a Fashion-MNIST class (0-9).");
        var fingerprint = $"fmnist-{images.Shape[0]}-{new FileInfo(imagesPath).Length}-{new FileInfo(imagesPath).LastWriteTimeUtc.Ticks}";
        return new FashionMnistDataset(folder, images.Data, labels.Data, images.Shape[1], images.Shape[2], fingerprint);
    }

    /// <summary>Every image as one (N, 1, H, W) float32 tensor in [-1, 1] (the training transform) and the labels (N) int64, on the CPU.</summary>
    public (Tensor Images, Tensor Labels) ToTensors()
    {
        using var scope = NewDisposeScope();
        var images = tensor(_pixels, [Count, 1, _rows, _cols], ScalarType.Byte).to(ScalarType.Float32).DividedBy(127.5).Minus(1.0);
        var labels = tensor(_labels, [Count], ScalarType.Byte).to(ScalarType.Int64);
        return (images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    public Image Read(int index)
        => Image.LoadPixelData<L8>(_pixels.AsSpan(index * _rows * _cols, _rows * _cols), _cols, _rows);

    static string? Find(string folder, string name)
        => new[] { name, name + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);

    sealed record Idx(int[] Shape, byte[] Data);

    /// <summary>IDX: big-endian magic (0x08 = unsigned byte, low byte = number of dims), one int32 per dim, then the bytes.</summary>
    static Idx ReadIdx(string path, int magic, int dims)
    {
        try
        {
            using var file = RegularFile.OpenRead(path);
            using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
            Span<byte> word = stackalloc byte[4];
            stream.ReadExactly(word);
            int found = BinaryPrimitives.ReadInt32BigEndian(word);
            if (found != magic) throw new DatasetException($"'{path}' is not an IDX file of {dims}-d unsigned bytes (magic 0x{found:X8}, expected 0x{magic:X8}).");
            var shape = new int[dims];
            for (int d = 0; d < dims; d++)
            {
                stream.ReadExactly(word);
                shape[d] = BinaryPrimitives.ReadInt32BigEndian(word);
                if (shape[d] < 0) throw new DatasetException($"'{path}' has a negative dimension.");
            }
            var data = new byte[shape.Aggregate(1L, (a, b) => a * b)];
            stream.ReadExactly(data);
            return new Idx(shape, data);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or IOException)
        {
            throw new DatasetException($"'{path}' is truncated or corrupt: {e.Message}", e);
        }
    }
}
