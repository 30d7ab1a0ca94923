using DiT.Training.Data;
using static DiT.Training.Tests.TinyTraining;

namespace DiT.Training.Tests;

public class DatasetTests
{
    [Fact]
    public void ImageFolderSortsClassesByFolderNameAndLabelsEachImage()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(ImageFolder(dir.Path, perClass: 3));
        Assert.Equal(["a_left", "b_top"], data.ClassNames);
        Assert.Equal(6, data.Count);
        Assert.Equal([0, 0, 0, 1, 1, 1], Enumerable.Range(0, 6).Select(data.LabelOf));
    }

    [Fact]
    public void PreprocessingCentreCropsResizesAndScalesToUnitRange()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(ImageFolder(dir.Path, perClass: 1));
        using var image = data.Read(0);                                   // class a: bright left half
        using var pixels = ImagePreprocessing.ToTensor(image, 8, 1);
        Assert.Equal([1L, 8, 8], pixels.shape);
        Assert.True(pixels.min().item<float>() >= -1 && pixels.max().item<float>() <= 1);
        Assert.True(pixels[0, .., ..3].mean().item<float>() > 0.5, "left columns stay bright");
        Assert.True(pixels[0, .., 5..].mean().item<float>() < -0.5, "right columns stay dark");
    }

    [Fact]
    public void MissingFolderIsRejected()
        => Assert.Contains("does not exist", Assert.Throws<DatasetException>(() => ImageDatasets.Open("/nonexistent/dit-data")).Message);

    [Fact]
    public void FolderWithoutImagesIsRejected()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Sub("cats"));
        File.WriteAllText(Path.Combine(dir.Sub("cats"), "notes.txt"), "no images here");
        Assert.Contains("holds no images", Assert.Throws<DatasetException>(() => ImageDatasets.Open(dir.Path)).Message);
        Assert.Contains("no class subfolders", Assert.Throws<DatasetException>(() => ImageDatasets.Open(dir.Sub("cats"))).Message);
    }

    [Fact]
    public void UnreadableImageIsRejectedWhenTheFolderIsOpened()
    {
        using var dir = new TempDir();
        ImageFolder(dir.Path, perClass: 1);
        File.WriteAllText(Path.Combine(dir.Sub("a_left"), "broken.png"), "not a png");
        var error = Assert.Throws<DatasetException>(() => ImageDatasets.Open(dir.Path));
        Assert.Contains("broken.png", error.Message);
    }

    [Fact]
    public void FashionMnistIdxFilesAreReadWithTheirTenClasses()
    {
        using var dir = new TempDir();
        var data = ImageDatasets.Open(FashionMnistFolder(dir.Path, count: 12));
        Assert.IsType<FashionMnistDataset>(data);
        Assert.Equal(10, data.ClassNames.Count);
        Assert.Equal("Ankle boot", data.ClassNames[9]);
        Assert.Equal(12, data.Count);
        Assert.Equal(3, data.LabelOf(3));
        using var image = data.Read(1);
        Assert.Equal((28, 28), (image.Width, image.Height));
    }

    [Fact]
    public void TruncatedIdxFileIsRejected()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.Sub("train-images-idx3-ubyte"), [0, 0, 8, 3, 0, 0, 0, 9]);
        File.WriteAllBytes(dir.Sub("train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 9]);
        Assert.Contains("truncated", Assert.Throws<DatasetException>(() => ImageDatasets.Open(dir.Path)).Message);
    }
}
