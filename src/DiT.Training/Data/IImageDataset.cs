using DiT.Model.IO;
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
    /// <summary>With <paramref name="roots"/>, every file and class folder the data set uses must resolve (symlinks
    /// followed) inside them, else <see cref="DatasetException"/>; without, any path is used (the command line).</summary>
    public static IImageDataset Open(string folder, PathRoots? roots = null)
    {
        if (!Directory.Exists(folder)) throw new DatasetException($"Data folder '{folder}' does not exist.");
        return FashionMnistDataset.IsPresent(folder) ? FashionMnistDataset.Open(folder, roots) : ImageFolderDataset.Open(folder, roots: roots);
    }

    /// <summary>The real path of a file or folder a data set found, checked against <paramref name="roots"/> (when given);
    /// files must be regular files (a FIFO would block the reader forever).</summary>
    internal static string Confine(string path, string root, PathRoots? roots, bool isFile)
    {
        string real;
        try { real = roots is null ? path : roots.Resolve(path) ?? throw new DatasetException($"'{Path.GetRelativePath(root, path)}' in '{root}' resolves outside the data roots ({string.Join(", ", roots.Configured)}); symbolic links must stay inside them."); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DatasetException($"'{path}' cannot be resolved: {e.Message}", e); }
        if (isFile && !RegularFile.Is(real)) throw new DatasetException($"'{path}' is not a regular file (a FIFO, socket, device or broken link).");
        return real;
    }
}
