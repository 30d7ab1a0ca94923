using System.Buffers.Binary;
using System.IO.Compression;
using DiT.Model;
using DiT.Training;
using DiT.Training.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Training.Tests;

/// <summary>Tiny generated data sets and a tiny DiT (input 8, patch 2, hidden 32, depth 1) so a training run takes well under a second.</summary>
public static class TinyTraining
{
    public static readonly DiTConfig Config = new(InputSize: 8, PatchSize: 2, InChannels: 1, HiddenSize: 32, Depth: 1, NumHeads: 2, NumClasses: 2);

    public static TrainingOptions Options(int steps = 20, int checkpointEvery = 1000) => new()
    {
        Steps = steps, BatchSize = 8, LearningRate = 1e-3, EmaDecay = 0.9, CheckpointEvery = checkpointEvery, ImageSize = 8, Seed = 7,
    };

    /// <summary>A temp folder deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("dit-train-").FullName;
        public string Sub(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }

    /// <summary>root/&lt;class&gt;/NN.png: class "a" bright on the left, class "b" bright on the top, with pixel noise; 12x10 RGB so they get cropped and resized.</summary>
    public static string ImageFolder(string root, int perClass = 4, params string[] classes)
    {
        if (classes.Length == 0) classes = ["b_top", "a_left"];
        var random = new Random(1);
        foreach (var (name, c) in classes.Select((n, i) => (n, i)))
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
            for (int k = 0; k < perClass; k++)
            {
                using var image = new Image<Rgb24>(12, 10);
                for (int y = 0; y < 10; y++)
                    for (int x = 0; x < 12; x++)
                    {
                        bool bright = name.StartsWith('a') ? x < 6 : y < 5;
                        byte v = (byte)Math.Clamp((bright ? 220 : 30) + random.Next(-20, 20), 0, 255);
                        image[x, y] = new Rgb24(v, v, v);
                    }
                image.SaveAsPng(Path.Combine(dir, $"{k:D2}.png"));
            }
        }
        return root;
    }

    /// <summary>train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz with <paramref name="count"/> 28x28 images, label = index % 10.</summary>
    public static string FashionMnistFolder(string root, int count = 5)
    {
        Directory.CreateDirectory(root);
        var pixels = Enumerable.Range(0, count * 28 * 28).Select(i => (byte)(i % 251)).ToArray();
        WriteIdx(Path.Combine(root, "train-images-idx3-ubyte.gz"), 0x803, [count, 28, 28], pixels);
        WriteIdx(Path.Combine(root, "train-labels-idx1-ubyte.gz"), 0x801, [count], Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray());
        return root;
    }

    static void WriteIdx(string path, int magic, int[] shape, byte[] data)
    {
        using var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic); gz.Write(word);
        foreach (var d in shape) { BinaryPrimitives.WriteInt32BigEndian(word, d); gz.Write(word); }
        gz.Write(data);
    }

    public static TrainingRunRequest Request(string data, string output, TrainingOptions options, string? resume = null) => new()
    {
        Data = ImageDatasets.Open(data),
        InitialModel = generator => new DiTModel(Config, generator),
        ResumeFrom = resume,
        Options = options,
        OutputDirectory = output,
        Autoencoder = new PixelSpaceAutoencoder(1),
        AutoencoderId = "pixels1",
    };
}
