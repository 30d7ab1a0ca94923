using SixLabors.ImageSharp;

namespace DiT.Training.Data;

/// <summary>A labelled image collection: class names (index = label) and random access to each image.</summary>
public interface IImageDataset
{
    /// <summary>Where the images come from (a folder), for messages and cache fingerprints.</summary>
    string Source { get; }
    IReadOnlyList<string> ClassNames { get; }
    int Count { get; }
    int LabelOf(int index);

    /// <summary>Decodes image <paramref name="index"/>; throws <see cref="DatasetException"/> naming the file if it cannot be read.</summary>
    Image Read(int index);

    /// <summary>A string that changes when the images or labels change (names, sizes, dates), for the latent cache.</summary>
    string Fingerprint { get; }
}

/// <summary>A data set that cannot be used: missing folder, no images, unreadable file. The message says what and where.</summary>
public sealed class DatasetException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Opens a data set folder: Fashion-MNIST IDX files if present, else an ImageFolder tree (one subfolder per class).</summary>
public static class ImageDatasets
{
    public static IImageDataset Open(string folder)
    {
        if (!Directory.Exists(folder)) throw new DatasetException($"Data folder '{folder}' does not exist.");
        return FashionMnistDataset.IsPresent(folder) ? FashionMnistDataset.Open(folder) : ImageFolderDataset.Open(folder);
    }
}
