using System.Globalization;

namespace DiT.Api.Generations;

/// <summary>The request headers POST /generations reads: <c>Prefer: wait=N</c> (RFC 7240) and <c>Idempotency-Key</c>.</summary>
public static class RequestHeaders
{
    public const string Prefer = "Prefer", PreferenceApplied = "Preference-Applied", IdempotencyKey = "Idempotency-Key";
    const int MaxKeyLength = 255;

    /// <summary>The wait asked for, null when none; errors under "Prefer" for a wait that is not 0..max whole seconds.</summary>
    public static TimeSpan? Wait(HttpRequest request, int maxSeconds, IDictionary<string, string[]> errors)
    {
        // Preferences are comma-separated, each "token[=value]" with optional ";" parameters; unknown ones are ignored.
        foreach (var preference in request.Headers[Prefer].SelectMany(v => (v ?? "").Split(',')))
        {
            var (name, value) = Split(preference.Split(';')[0], '=');
            if (!name.Equals("wait", StringComparison.OrdinalIgnoreCase)) continue;
            if (int.TryParse(value.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= maxSeconds)
                return seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
            errors[Prefer] = [$"wait must be a whole number of seconds, 0..{maxSeconds} (e.g. 'Prefer: wait=10')."];
            return null;
        }
        return null;
    }

    /// <summary>The key, null when absent; errors under "Idempotency-Key" unless it is 1-255 visible ASCII characters.</summary>
    public static string? Key(HttpRequest request, IDictionary<string, string[]> errors)
    {
        if (!request.Headers.TryGetValue(IdempotencyKey, out var values)) return null;
        var key = values.Count == 1 ? values[0] : null;
        if (key is { Length: > 0 and <= MaxKeyLength } && key.All(c => c is > ' ' and <= '~')) return key;
        errors[IdempotencyKey] = [$"Idempotency-Key must be one value of 1-{MaxKeyLength} visible ASCII characters (a random UUID is a good key)."];
        return null;
    }

    static (string Name, string Value) Split(string text, char separator)
    {
        int at = text.IndexOf(separator);
        return at < 0 ? (text.Trim(), "") : (text[..at].Trim(), text[(at + 1)..].Trim());
    }
}
