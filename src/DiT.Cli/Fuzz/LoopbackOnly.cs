using System.Net;

namespace DiT.Cli.Fuzz;

/// <summary>The fuzzer attacks only this machine: 127.0.0.0/8, ::1 or "localhost", never a host on the network.</summary>
public static class LoopbackOnly
{
    public static Uri Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            throw new ArgumentException($"--base must be an http:// URL on this machine, e.g. http://127.0.0.1:5077 (got '{url}').");
        bool loopback = uri.IsLoopback && (uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address)));
        if (!loopback)
            throw new ArgumentException($"--base must name this machine (127.0.0.0/8, ::1 or localhost); '{uri.Host}' is refused: the fuzzer never attacks another host.");
        return uri;
    }
}
