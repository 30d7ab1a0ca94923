namespace DiT.Serving.Startup;

/// <summary>A configured file that cannot be served: the message names the setting, the file and what is wrong, on one line.</summary>
public sealed class SettingException(string setting, string path, Exception inner)
    : Exception($"{setting} '{path}': {ErrorText.WithoutPath(inner, path)}", inner)
{
    /// <summary>Runs <paramref name="load"/>; any failure becomes a <see cref="SettingException"/> for <paramref name="setting"/>.</summary>
    public static T Wrap<T>(string setting, string path, Func<T> load)
    {
        try { return load(); }
        catch (Exception e) when (e is not SettingException) { throw new SettingException(setting, path, e); }
    }
}
