using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace DiT.Api.Webhooks;

/// <summary>
/// Where a webhook may go: an absolute http(s) URL without credentials, on an allowed host, and (unless
/// Webhooks:AllowPrivateNetworks) only to public addresses. URLs are checked at submit; addresses again at connect, after
/// DNS resolution, so a name that resolves to an internal address (or is re-pointed there later) is refused too.
/// </summary>
public sealed class WebhookTargets(IOptions<WebhookOptions> options)
{
    const int MaxUrlLength = 2048;

    public bool Enabled => options.Value.Enabled;

    /// <summary>The target, or null with the reason under "webhook".</summary>
    public Uri? Validate(string url, IDictionary<string, string[]> errors)
    {
        var reason = Check(url, out var uri);
        if (reason is null) return uri;
        errors["webhook"] = [reason];
        return null;
    }

    string? Check(string url, out Uri? uri)
    {
        uri = null;
        if (!Enabled) return "Webhooks are off on this service (Webhooks:Secret is not set); leave webhook out.";
        if (url.Length > MaxUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out uri) || uri.Scheme is not ("http" or "https"))
            return $"webhook must be an absolute http or https URL of at most {MaxUrlLength} characters.";
        if (uri.UserInfo.Length > 0) return "webhook must not carry credentials (user:password@).";
        var allowed = options.Value.AllowedHosts;
        var host = uri.IdnHost;
        if (!allowed.Any(pattern => HostMatches(host, pattern)))
            return $"The host '{host}' is not allowed: allowed {string.Join(", ", allowed)} (Webhooks:AllowedHosts).";
        if (IPAddress.TryParse(uri.DnsSafeHost, out var address) && !IsAllowed(address))
            return "webhook points at a loopback, private or otherwise non-public address; these are refused (Webhooks:AllowPrivateNetworks).";
        return null;
    }

    static bool HostMatches(string host, string pattern) =>
        pattern == "*"
        || (pattern.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase))
        || host.Equals(pattern, StringComparison.OrdinalIgnoreCase);

    public bool IsAllowed(IPAddress address) => options.Value.AllowPrivateNetworks || IsPublic(address);

    /// <summary>False for loopback, private, shared (CGNAT), link-local, unique-local, multicast, reserved and unspecified addresses.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return false;
        var b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return !(b[0] is 0 or 10 or 127 or >= 224
                || (b[0] == 100 && b[1] is >= 64 and < 128)   // 100.64/10 shared address space
                || (b[0] == 169 && b[1] == 254)               // link-local (cloud metadata lives here)
                || (b[0] == 172 && b[1] is >= 16 and < 32)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)
                || (b[0] == 198 && b[1] is 18 or 19));
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (address.Equals(IPAddress.IPv6None) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast) return false;
        if ((b[0] & 0xFE) == 0xFC) return false; // fc00::/7 unique local
        bool nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B; // 64:ff9b::/96 carries an IPv4 address
        return !nat64 || IsPublic(new IPAddress(b[12..]));
    }

    /// <summary>SocketsHttpHandler.ConnectCallback: resolves the host and connects only to allowed addresses.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = await Dns.GetHostAddressesAsync(host, ct);
        var allowed = addresses.Where(IsAllowed).ToArray();
        if (allowed.Length == 0) throw new WebhookRefusedException($"{host} resolves only to non-public addresses.");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The webhook's host resolves only to addresses it may not reach: retrying would not help.</summary>
public sealed class WebhookRefusedException(string message) : Exception(message);
