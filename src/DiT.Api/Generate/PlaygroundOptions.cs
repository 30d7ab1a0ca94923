using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Generate;

/// <summary>Limits of the /generate/progress streams (section "Playground": the playground page opens most of them, and
/// deployments already set these keys under that name).</summary>
public sealed class PlaygroundOptions
{
    public const string Section = "Playground";

    /// <summary>Progress streams open at once over all clients; beyond it GET /generate/progress/{id} answers 429.</summary>
    [Range(1, 1_000_000)] public int MaxProgressStreams { get; set; } = 1024;

    /// <summary>Progress subscriptions one client address may hold (the playground's grid opens up to 32 at once); beyond it
    /// that client gets 429 and the others are unaffected. Behind a reverse proxy every client has the proxy's address
    /// unless forwarded headers are applied.</summary>
    [Range(1, 1_000_000)] public int MaxProgressStreamsPerClient { get; set; } = 64;
}
