using Microsoft.Extensions.Options;

namespace DiT.Serving.Startup;

/// <summary>Exception messages as they may be shown: one line, without a leading file name the caller already names.</summary>
public static class ErrorText
{
    /// <summary>The message as one line, without the "path: " or "'path' " it may start with.</summary>
    public static string WithoutPath(Exception e, string path)
    {
        var message = OneLine(e.Message);
        foreach (var prefix in new[] { path + ": ", $"'{path}' " })
            if (message.StartsWith(prefix, StringComparison.Ordinal)) return message[prefix.Length..];
        return message;
    }

    /// <summary>The first line (native libtorch errors append a C++ backtrace).</summary>
    public static string OneLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>Why the service cannot start, on one line: failed settings, a file that cannot be served, or the exception.</summary>
    public static string Describe(Exception e) => e switch
    {
        OptionsValidationException options => string.Join(" ", options.Failures.Select(OneLine)),
        AggregateException { InnerExceptions.Count: > 0 } all => string.Join(" ", all.InnerExceptions.Select(Describe)),
        SettingException setting => setting.Message,
        _ => $"{e.GetType().Name}: {OneLine(e.Message)}",
    };
}
