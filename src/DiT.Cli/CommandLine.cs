namespace DiT.Cli;

/// <summary>A command of the `dit` tool.</summary>
public interface ICommand
{
    string Summary { get; }
    int Run(CommandLine options);
}

/// <summary>`--name value` and `--flag` options, with typed getters that name the option in their errors.</summary>
public sealed class CommandLine
{
    readonly Dictionary<string, string?> _values = new(StringComparer.OrdinalIgnoreCase);

    public static CommandLine Parse(string[] args)
    {
        var result = new CommandLine();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"Unexpected argument '{args[i]}': options are written --name value.");
            var name = args[i][2..];
            bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            result._values[name] = hasValue ? args[++i] : null;
        }
        return result;
    }

    /// <summary>Failures a command reports as a one-line message: bad options, unreadable or mismatched files and
    /// data sets, an unreachable service, an engine that could not start.</summary>
    public static bool IsUserError(Exception e) => e is ArgumentException or FormatException or IOException
        or InvalidDataException or HttpRequestException or InvalidOperationException
        or DiT.Model.Checkpoints.CheckpointMismatchException or DiT.Training.Data.DatasetException;

    public bool Has(string name) => _values.ContainsKey(name);
    public string? String(string name, string? fallback = null) => _values.TryGetValue(name, out var v) ? v ?? fallback : fallback;
    public int Int(string name, int fallback) => Parse(name, fallback, int.Parse);
    public long Long(string name, long fallback) => Parse(name, fallback, long.Parse);
    public double Double(string name, double fallback) => Parse(name, fallback, s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture));

    T Parse<T>(string name, T fallback, Func<string, T> parse)
    {
        if (!_values.TryGetValue(name, out var text) || text is null) return fallback;
        try { return parse(text); }
        catch (FormatException) { throw new ArgumentException($"--{name} expects a {typeof(T).Name}, got '{text}'."); }
    }
}
