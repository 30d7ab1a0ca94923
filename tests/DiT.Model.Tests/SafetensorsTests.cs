using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

public sealed class SafetensorsTests
{
    [Fact]
    public void SavedFileReloadsTheSameTensorsAndMetadata()
    {
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var a = randn(3, 5);
            using var b = arange(7, ScalarType.Int64);
            using var c = randn(2, 2).to(ScalarType.Float16);
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b, ["c.half"] = c },
                new Dictionary<string, string> { ["config"] = "{\"depth\":2}" });

            var header = Safetensors.ReadHeader(path);
            Assert.Equal("{\"depth\":2}", header.Metadata["config"]);
            Assert.Equal(0, header.DataStart % 8);
            var loaded = Safetensors.Load(path);
            Assert.True(loaded["a"].equal(a).all().item<bool>());
            Assert.True(loaded["b"].equal(b).all().item<bool>());
            Assert.Equal(ScalarType.Float16, loaded["c.half"].dtype);
            Assert.True(loaded["c.half"].equal(c).all().item<bool>());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TruncatedFileIsRejectedWithItsName()
    {
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
            Assert.Contains(path, error.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void GoldenWeightsLoadWithTheirManifestShapes()
    {
        var golden = Golden.Default;
        var weights = Safetensors.Load(golden.PathOf("dit_A_weights.safetensors"));
        var expected = golden.Manifest["files"]!["dit_A_weights.safetensors"]!.AsObject();
        Assert.Equal(expected.Count, weights.Count);
        foreach (var (name, spec) in expected)
            Assert.Equal(spec!["shape"]!.AsArray().Select(d => d!.GetValue<long>()), weights[name].shape);
    }
}
