namespace DiT.Model.Checkpoints;

/// <summary>Key names read from a checkpoint, as error messages show them: a few, printable and short, whatever the file holds.</summary>
static class KeyNames
{
    public static string List(IEnumerable<object> keys, int max = 6)
    {
        var all = keys.Select(k => Printable(k.ToString() ?? "")).ToList();
        return all.Count == 0 ? "none" : string.Join(", ", all.Take(max)) + (all.Count > max ? ", ..." : "");
    }

    static string Printable(string name) => string.Concat(name.Take(80).Select(c => char.IsControl(c) ? '?' : c));
}
