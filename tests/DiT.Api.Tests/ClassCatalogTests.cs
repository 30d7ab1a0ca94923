using DiT.Serving.Classes;

namespace DiT.Api.Tests;

public sealed class ClassCatalogTests
{
    [Theory]
    [InlineData("golden retriever", 207)]
    [InlineData("Golden Retriever", 207)]
    [InlineData("lesser panda", 387)]
    [InlineData("red panda", 387)]
    [InlineData("tench", 0)]
    public void ImageNetModelsResolveAnySynonymOfTheirLabels(string name, int id)
    {
        var catalog = ClassCatalog.ForModel(1000, classesPath: null, checkpointPath: null, isDefaultModel: false);

        Assert.Equal("imagenet-1k", catalog.Source);
        Assert.Equal(1000, catalog.Count);
        Assert.True(catalog.TryResolve(name, out var found));
        Assert.Equal(id, found);
    }

    [Fact]
    public void ClassFileWithTheWrongCountIsRejectedWithBothCounts()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("dit-classes-").FullName, "classes.txt");
        File.WriteAllLines(path, ["a", "b"]);

        var error = Assert.Throws<InvalidDataException>(() => ClassCatalog.ReadFile(path, 3));
        Assert.Contains("must list 3 classes", error.Message);
        Assert.Contains("it lists 2", error.Message);
    }

    [Fact]
    public void ModelsWithoutNamesGetNumberedClasses()
    {
        var catalog = ClassCatalog.ForModel(3, null, null, isDefaultModel: false);
        Assert.Equal(["class 0", "class 1", "class 2"], catalog.Entries.Select(e => e.Names[0]));
    }
}
