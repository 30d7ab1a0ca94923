using DiT.Model.IO;
using DiT.Testing;
using DiT.Training.Data;
using static DiT.Training.Tests.TinyTraining;

namespace DiT.Training.Tests;

/// <summary>
/// Finding 3 and 5 at the data set: with data roots, a class folder or image that is a symbolic link out of them is
/// refused, not followed (a job trained to completion on outside images); a FIFO among the images is refused before it is
/// opened, with or without roots (it hung fine-tuning forever). Links that stay inside the roots are fine.
/// </summary>
public sealed class DatasetConfinementTests : IDisposable
{
    readonly TempDir _dir = new();
    readonly string _root, _outside;

    public DatasetConfinementTests()
    {
        _root = Directory.CreateDirectory(_dir.Sub("root")).FullName;
        _outside = ImageFolder(_dir.Sub("outside"), perClass: 1);
    }

    public void Dispose() => _dir.Dispose();

    PathRoots Roots => new([_root]);

    [Fact]
    public void AClassFolderLinkedOutOfTheRootsIsRefused()
    {
        var data = ImageFolder(Path.Combine(_root, "data"), perClass: 1);
        Directory.CreateSymbolicLink(Path.Combine(data, "c_linked"), Path.Combine(_outside, "a_left"));

        var error = Assert.Throws<DatasetException>(() => ImageDatasets.Open(data, Roots));
        Assert.Contains("c_linked", error.Message);
        Assert.Contains("outside the data roots", error.Message);
    }

    [Fact]
    public void AnImageLinkedOutOfTheRootsIsRefused()
    {
        var data = ImageFolder(Path.Combine(_root, "data"), perClass: 1);
        var image = Directory.GetFiles(Path.Combine(_outside, "a_left"))[0];
        File.CreateSymbolicLink(Path.Combine(data, "a_left", "stolen.png"), image);

        var error = Assert.Throws<DatasetException>(() => ImageDatasets.Open(data, Roots));
        Assert.Contains("stolen.png", error.Message);
    }

    [Fact]
    public void LinksThatStayInsideTheRootsAreFollowed()
    {
        var data = ImageFolder(Path.Combine(_root, "data"), perClass: 1);
        var shared = ImageFolder(Path.Combine(_root, "shared"), perClass: 2, "c_more");
        Directory.CreateSymbolicLink(Path.Combine(data, "c_more"), Path.Combine(shared, "c_more"));

        var opened = ImageDatasets.Open(data, Roots);
        Assert.Equal(["a_left", "b_top", "c_more"], opened.ClassNames);
        using var image = opened.Read(opened.Count - 1);
        Assert.Equal(12, image.Width);
    }

    [Fact]
    public void AFifoAmongTheImagesIsRefusedWithoutBlocking()
    {
        var data = ImageFolder(Path.Combine(_root, "data"), perClass: 1);
        CraftedFiles.Fifo(Path.Combine(data, "a_left", "pipe.png"));

        Assert.Contains("not a regular file", Assert.Throws<DatasetException>(() => ImageDatasets.Open(data, Roots)).Message);
        Assert.Contains("not a regular file", Assert.Throws<DatasetException>(() => ImageDatasets.Open(data)).Message);
    }

    [Fact]
    public void FashionMnistFilesLinkedOutOfTheRootsAreRefused()
    {
        var outside = FashionMnistFolder(_dir.Sub("fmnist"), count: 3);
        var data = Directory.CreateDirectory(Path.Combine(_root, "fmnist")).FullName;
        foreach (var file in Directory.GetFiles(outside)) File.CreateSymbolicLink(Path.Combine(data, Path.GetFileName(file)), file);

        Assert.Contains("outside the data roots", Assert.Throws<DatasetException>(() => ImageDatasets.Open(data, Roots)).Message);
    }
}
