using System.Security.Cryptography;
using System.Text;
using DiT.Model.IO;
using SixLabors.ImageSharp;

namespace DiT.Training.Data;

/// <summary>
/// torchvision's ImageFolder layout: root/&lt;class&gt;/&lt;image&gt;; classes are the subfolder names sorted ordinally
/// (label i = i-th folder), images are the files with a known image extension, in sorted order.
/// </summary>
public sealed class ImageFolderDataset : IImageDataset
{
    static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase)
        { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tga", ".tif", ".tiff", ".pbm", ".pgm", ".ppm" };

    readonly (string Path, int Label)[] _items;

    ImageFolderDataset(string source, string[] classes, (string, int)[] items, string fingerprint)
        => (Source, ClassNames, _items, Fingerprint) = (source, classes, items, fingerprint);

    public string Source { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public int Count => _items.Length;
    public string Fingerprint { get; }
    public int LabelOf(int index) => _items[index].Label;
    public string PathOf(int index) => _items[index].Path;

    /// <summary>Lists the tree; with <paramref name="checkImages"/> also reads every image's header so an unreadable file fails now, not mid-training.
    /// With <paramref name="roots"/> every class folder and image must resolve inside them (see <see cref="ImageDatasets.Open"/>).</summary>
    public static ImageFolderDataset Open(string root, bool checkImages = true, PathRoots? roots = null)
    {
        if (!Directory.Exists(root)) throw new DatasetException($"Data folder '{root}' does not exist.");
        var classes = Directory.GetDirectories(root)
            .Select(Path.GetFileName).OfType<string>()
            .Where(name => !name.StartsWith('.'))
            .OrderBy(name => name, StringComparer.Ordinal).ToArray();
        if (classes.Length == 0)
            throw new DatasetException($"Data folder '{root}' has no class subfolders: expected one folder per class holding its images (or Fashion-MNIST IDX files).");

        var items = new List<(string, int)>();
        var hash = new StringBuilder();
        for (int label = 0; label < classes.Length; label++)
        {
            var classFolder = ImageDatasets.Confine(Path.Combine(root, classes[label]), root, roots, isFile: false);
            var files = Directory.EnumerateFiles(classFolder, "*", SearchOption.AllDirectories)
                .Where(f => Extensions.Contains(Path.GetExtension(f)))
                .OrderBy(f => f, StringComparer.Ordinal).ToArray();
            if (files.Length == 0)
                throw new DatasetException($"Class folder '{classes[label]}' in '{root}' holds no images ({string.Join(", ", Extensions.Order())}).");
            foreach (var file in files)
            {
                var real = ImageDatasets.Confine(file, root, roots, isFile: true);
                var info = new FileInfo(real);
                if (checkImages) CheckReadable(real);
                items.Add((real, label));
                hash.Append(label).Append('|').Append(classes[label]).Append('/').Append(Path.GetRelativePath(classFolder, file)).Append('|').Append(info.Length).Append('|').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
            }
        }
        var fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(hash.ToString())))[..16];
        return new ImageFolderDataset(root, classes, items.ToArray(), fingerprint);
    }

    static void CheckReadable(string file)
    {
        try
        {
            using var stream = RegularFile.OpenRead(file);
            if (Image.Identify(stream) is not { Width: > 0, Height: > 0 }) throw new DatasetException($"Image '{file}' is not in a readable image format.");
        }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or IOException)
        {
            throw new DatasetException($"Image '{file}' cannot be read: {e.Message}", e);
        }
    }

    public Image Read(int index)
    {
        var file = _items[index].Path;
        try
        {
            using var stream = RegularFile.OpenRead(file); // replaced by a FIFO since Open: fail, do not block
            return Image.Load(stream);
        }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or IOException or NotSupportedException)
        {
            throw new DatasetException($"Image '{file}' cannot be read: {e.Message}", e);
        }
    }
}
