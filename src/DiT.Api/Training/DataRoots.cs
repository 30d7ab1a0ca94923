namespace DiT.Api.Training;

/// <summary>Resolves a user-supplied path to its real location (no "..", no symlinks) and checks it lies inside an allowed root.</summary>
public static class DataRoots
{
    const int MaxLinks = 40;

    /// <summary>The real path, or null when it lies outside every root (roots are resolved the same way).</summary>
    public static string? Resolve(string path, IEnumerable<string> roots)
    {
        var real = RealPath(path);
        return roots.Select(RealPath).Any(root => IsUnder(real, root)) ? real : null;
    }

    static bool IsUnder(string path, string root) =>
        path == root || path.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>Like realpath(3): absolute, every symlink component replaced by its target, "." and ".." removed.</summary>
    public static string RealPath(string path)
    {
        int links = 0;
        var absolute = Path.IsPathRooted(path) ? path : Path.Combine(Environment.CurrentDirectory, path); // no lexical ".." folding: a link's ".." is its target's parent
        var pending = new Stack<string>(absolute.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        while (pending.TryPop(out var part))
        {
            if (part == ".") continue;
            if (part == "..") { if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1); continue; }
            var candidate = Path.DirectorySeparatorChar + string.Join(Path.DirectorySeparatorChar, resolved.Append(part));
            var target = new FileInfo(candidate).LinkTarget;
            if (target is null) { resolved.Add(part); continue; }
            if (++links > MaxLinks) throw new IOException($"Too many symbolic links in '{path}'.");
            if (Path.IsPathRooted(target)) resolved.Clear();
            foreach (var p in target.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
        }
        return Path.DirectorySeparatorChar + string.Join(Path.DirectorySeparatorChar, resolved);
    }
}
