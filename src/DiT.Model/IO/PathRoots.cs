namespace DiT.Model.IO;

/// <summary>
/// Folders a path must resolve into. A path is resolved like realpath(3): every symbolic link along it (the last
/// component included) is replaced by its target and "." and ".." are folded, so a link planted inside a root that
/// points elsewhere resolves outside it. Roots are resolved the same way.
/// </summary>
public sealed class PathRoots
{
    const int MaxLinks = 40;

    readonly string[] _real;

    public PathRoots(IEnumerable<string> roots)
    {
        Configured = [.. roots];
        _real = [.. Configured.Select(RealPath)];
    }

    /// <summary>The roots as configured, for messages.</summary>
    public IReadOnlyList<string> Configured { get; }

    /// <summary>The real path of <paramref name="path"/>, or null when it lies outside every root.
    /// Throws <see cref="IOException"/> for a symlink loop and <see cref="ArgumentException"/> for a NUL byte.</summary>
    public string? Resolve(string path)
    {
        var real = RealPath(path);
        return _real.Any(root => IsUnder(real, root)) ? real : null;
    }

    static bool IsUnder(string path, string root) =>
        path == root || path.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>Like realpath(3): absolute, every symlink component replaced by its target, "." and ".." removed.</summary>
    public static string RealPath(string path)
    {
        if (path.Contains('\0')) throw new ArgumentException("The path contains a NUL byte.", nameof(path));
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
