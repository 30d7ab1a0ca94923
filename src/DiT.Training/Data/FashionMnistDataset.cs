using System.Buffers.Binary;
using System.IO.Compression;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Training.Data;

/// <summary>
/// The Fashion-MNIST training split as IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, optionally .gz),
/// e.g. /usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist. 28x28 grey images, 10 classes.
/// </summary>
public sealed class FashionMnistDataset : IImageDataset
{
    public static readonly IReadOnlyList<string> Classes =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    const string ImagesFile = "train-images-idx3-ubyte", LabelsFile = "train-labels-idx1-ubyte";

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

    public static FashionMnistDataset Open(string folder)
    {
        var imagesPath = Find(folder, ImagesFile) ?? throw new DatasetException($"'{folder}' has no {ImagesFile}(.gz).");
        var labelsPath = Find(folder, LabelsFile) ?? throw new DatasetException($"'{folder}' has {ImagesFile} but no {LabelsFile}(.gz).");
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
            using var file = File.OpenRead(path);
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
