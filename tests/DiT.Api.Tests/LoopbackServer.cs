using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DiT.Api.Tests;

/// <summary>
/// The factory's service on a real Kestrel port of the loopback interface instead of the in-memory TestServer: only
/// Kestrel parses raw HTTP (chunk sizes, Content-Length, body rates) and sends transport-level answers.
/// </summary>
public static class LoopbackServer
{
    /// <summary>Starts Kestrel on 127.0.0.1 (a free port) and returns its base address.</summary>
    public static Uri StartOnLoopback<T>(this WebApplicationFactory<T> factory) where T : class
    {
        factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        factory.StartServer();
        return new Uri(factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }
}
