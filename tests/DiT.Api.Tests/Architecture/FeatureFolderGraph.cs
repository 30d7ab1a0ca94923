using System.Text.RegularExpressions;

namespace DiT.Api.Tests.Architecture;

/// <summary>
/// Which feature folder of src/DiT.Api names which other one, read from the source text as tools/dependency-graph.py
/// reads it: a <c>using DiT.Api.X;</c> or a qualified <c>DiT.Api.X.Type</c> in any file under the folder.
/// </summary>
public sealed partial class FeatureFolderGraph
{
    static readonly HashSet<string> NotFeatures = ["bin", "obj", "wwwroot", "Properties"];

    /// <summary>Folder -> folder it names -> the first file (relative to the project) that names it.</summary>
    readonly SortedDictionary<string, SortedDictionary<string, string>> _edges = new(StringComparer.Ordinal);

    [GeneratedRegex(@"\bDiT\.Api\.(\w+)")]
    private static partial Regex Mention();

    public static FeatureFolderGraph Read(string projectFolder)
    {
        var graph = new FeatureFolderGraph();
        var folders = Directory.GetDirectories(projectFolder).Select(Path.GetFileName).OfType<string>()
            .Where(name => !NotFeatures.Contains(name)).ToHashSet(StringComparer.Ordinal);
        foreach (var folder in folders.Order(StringComparer.Ordinal))
        {
            var targets = graph._edges[folder] = new(StringComparer.Ordinal);
            foreach (var file in Directory.EnumerateFiles(Path.Combine(projectFolder, folder), "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                foreach (Match match in Mention().Matches(File.ReadAllText(file)))
                    if (match.Groups[1].Value is var target && target != folder && folders.Contains(target))
                        targets.TryAdd(target, Path.GetRelativePath(projectFolder, file));
        }
        return graph;
    }

    /// <summary>Every cycle a depth-first walk meets, each as its path with the file behind each step:
    /// <c>A -> B (A/x.cs) -> A (B/y.cs)</c>. Empty when the folders depend one way.</summary>
    public IReadOnlyList<string> Cycles()
    {
        var cycles = new List<string>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        var path = new List<string>();
        foreach (var folder in _edges.Keys) Walk(folder);
        return cycles;

        void Walk(string folder)
        {
            if (done.Contains(folder)) return;
            if (path.IndexOf(folder) is var start and >= 0)
            {
                var loop = path[start..].Append(folder).ToList();
                cycles.Add(loop[0] + string.Concat(loop.Zip(loop.Skip(1), (from, to) => $" -> {to} ({_edges[from][to]})")));
                return;
            }
            path.Add(folder);
            foreach (var target in _edges[folder].Keys) Walk(target);
            path.RemoveAt(path.Count - 1);
            done.Add(folder);
        }
    }
}
