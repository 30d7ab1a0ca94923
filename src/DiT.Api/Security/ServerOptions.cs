using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Security;

/// <summary>Kestrel limits against slow clients (section "Server"). Kestrel never sends a Server header.</summary>
public sealed class ServerOptions
{
    public const string Section = "Server";

    /// <summary>A request body slower than this (after the grace period) is cut off with 408; 0 turns the check off.</summary>
    [Range(0, 1e9)] public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>How long a body may stay below the minimum rate before it is cut off (Kestrel needs more than 1 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01.100", "01:00:00")] public TimeSpan MinRequestBodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest time to receive a request's headers.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")] public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
