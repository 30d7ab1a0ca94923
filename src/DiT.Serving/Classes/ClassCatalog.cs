using DiT.Model.IO;

namespace DiT.Serving.Classes;

/// <summary>A class id with its names; the first name is the display name, the rest are synonyms.</summary>
public sealed record ClassEntry(int Id, IReadOnlyList<string> Names);

/// <summary>The served model's class labels, with case-insensitive lookup by any synonym.</summary>
public sealed class ClassCatalog
{
    public static readonly IReadOnlyList<string> FashionMnist =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    readonly Dictionary<string, int> _byName = new(StringComparer.OrdinalIgnoreCase);

    public ClassCatalog(string source, IReadOnlyList<ClassEntry> entries)
    {
        Source = source;
        Entries = entries;
        foreach (var entry in entries)
            foreach (var name in entry.Names)
                _byName.TryAdd(name, entry.Id); // a synonym shared by two classes resolves to the first
    }

    /// <summary>Where the names came from (a file path, "imagenet-1k", "fashion-mnist" or "numbered").</summary>
    public string Source { get; }
    public IReadOnlyList<ClassEntry> Entries { get; }
    public int Count => Entries.Count;

    public bool TryResolve(string name, out int id) => _byName.TryGetValue(name.Trim(), out id);

    public static ClassCatalog Numbered(int count) =>
        new("numbered", Enumerable.Range(0, count).Select(i => new ClassEntry(i, [$"class {i}"])).ToArray());

    public static ClassCatalog FromNames(string source, IReadOnlyList<string> names) =>
        new(source, names.Select((n, i) => new ClassEntry(i, [n])).ToArray());

    /// <summary>Reads `id&lt;TAB&gt;name, synonym, ...` lines, or plain `name, synonym` lines numbered from 0; '#' starts a comment line.</summary>
    public static ClassCatalog ReadFile(string path, int expectedCount)
    {
        var entries = new List<ClassEntry>();
        RegularFile.Check(path); // a FIFO named classes.txt would block start-up forever
        foreach (var raw in File.ReadLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var tab = line.IndexOf('\t');
            int id = tab >= 0 ? int.Parse(line[..tab], System.Globalization.CultureInfo.InvariantCulture) : entries.Count;
            var names = (tab >= 0 ? line[(tab + 1)..] : line)
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            entries.Add(new ClassEntry(id, names));
        }
        if (entries.Count != expectedCount || entries.Select((e, i) => e.Id != i).Any(bad => bad))
            throw new InvalidDataException($"Class names file '{path}' must list {expectedCount} classes numbered 0..{expectedCount - 1}; it lists {entries.Count}.");
        return new ClassCatalog(path, entries);
    }

    /// <summary>Picks the names for a model: an explicit file, classes.txt beside the checkpoint,
    /// ImageNet's labels for 1000 classes, Fashion-MNIST's for the built-in default, else "class N".</summary>
    public static ClassCatalog ForModel(int numClasses, string? classesPath, string? checkpointPath, bool isDefaultModel)
    {
        if (!string.IsNullOrWhiteSpace(classesPath)) return ReadFile(classesPath, numClasses);
        var beside = checkpointPath is null ? null : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!, "classes.txt");
        if (beside is not null && File.Exists(beside)) return ReadFile(beside, numClasses);
        if (numClasses == 1000)
            return new ClassCatalog("imagenet-1k", ReadFile(Path.Combine(AppContext.BaseDirectory, "Data", "imagenet-1k-classes.tsv"), 1000).Entries);
        if (isDefaultModel && numClasses == FashionMnist.Count) return FromNames("fashion-mnist", FashionMnist);
        return Numbered(numClasses);
    }
}
