using DiT.Testing;

namespace DiT.Api.Tests.Architecture;

/// <summary>
/// The feature folders of src/DiT.Api depend one way (docs/architecture.md draws them): a folder that needs another's
/// type must not be needed by it, so each can be read, changed and tested from the bottom up. A shared contract moves to
/// the lower folder, a route to the feature that owns its URL.
/// </summary>
public sealed class FeatureFolderCycleTests
{
    [Fact]
    public void NoFeatureFolderOfTheServiceReachesItselfThroughAnother()
    {
        var cycles = FeatureFolderGraph.Read(Path.Combine(Golden.RepoRoot(), "src", "DiT.Api")).Cycles();

        Assert.True(cycles.Count == 0, "Feature folders of src/DiT.Api depend on each other in a cycle (move the shared type to the lower folder):\n"
            + string.Join("\n", cycles));
    }

    [Fact]
    public void ACycleIsReportedWithItsPathAndTheFilesThatMakeIt()
    {
        var project = Directory.CreateTempSubdirectory("dit-folders-").FullName;
        try
        {
            Write(project, "Alpha/AlphaApi.cs", "using DiT.Api.Beta;\nnamespace DiT.Api.Alpha;");
            Write(project, "Beta/Inner/BetaApi.cs", "namespace DiT.Api.Beta;\nclass B { DiT.Api.Gamma.G? g; }");
            Write(project, "Gamma/G.cs", "namespace DiT.Api.Gamma;\n/// <see cref=\"DiT.Api.Alpha.A\"/>\nclass G { }");
            Write(project, "Delta/D.cs", "using DiT.Api.Alpha;\nusing DiT.Api.Unknown;\nnamespace DiT.Api.Delta;");

            var cycles = FeatureFolderGraph.Read(project).Cycles();

            var cycle = Assert.Single(cycles);
            Assert.Equal("Alpha -> Beta (Alpha/AlphaApi.cs) -> Gamma (Beta/Inner/BetaApi.cs) -> Alpha (Gamma/G.cs)",
                cycle.Replace(Path.DirectorySeparatorChar, '/'));
        }
        finally { Directory.Delete(project, recursive: true); }
    }

    static void Write(string project, string file, string text)
    {
        var path = Path.Combine(project, file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
