namespace DiT.Serving.Startup;

/// <summary>
/// <c>DIT_DEBUG=1</c> (or <c>true</c>) in the environment: a start-up failure prints the whole exception instead of one
/// line, and the model-load failure is logged with its stack trace. Read once per process.
/// </summary>
public static class DebugSwitch
{
    public const string Variable = "DIT_DEBUG";

    public static bool IsOn { get; } = Environment.GetEnvironmentVariable(Variable) is "1" or "true";
}
