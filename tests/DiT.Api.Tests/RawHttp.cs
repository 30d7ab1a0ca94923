using System.Net.Sockets;
using System.Text;

namespace DiT.Api.Tests;

/// <summary>HTTP/1.1 over a bare socket, for requests no HttpClient would send: bad chunk sizes, short or stalled bodies.</summary>
public static class RawHttp
{
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body);

    /// <summary>Sends <paramref name="head"/> (request line and headers, without the blank line) and <paramref name="body"/>,
    /// then reads the answer with the connection still open: a body that stops short is the server's to time out.</summary>
    public static async Task<Response> SendAsync(Uri server, string head, string body)
    {
        using var tcp = await ConnectAndSendAsync(server, head, body);
        return await ReadResponseAsync(tcp.GetStream());
    }

    /// <summary>Sends, then closes the connection at once: the server's body read ends early (Kestrel cannot tell a
    /// half-closed socket from a gone client, so no answer can be read back).</summary>
    public static async Task SendAndHangUpAsync(Uri server, string head, string body)
    {
        using var tcp = await ConnectAndSendAsync(server, head, body);
    }

    static async Task<TcpClient> ConnectAndSendAsync(Uri server, string head, string body)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"{head}\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n{body}"));
        return tcp;
    }

    /// <summary>One response: status line, headers, then a Content-Length or chunked body (or up to the connection's end).</summary>
    static async Task<Response> ReadResponseAsync(Stream stream)
    {
        var reader = new BufferedReader(stream);
        var status = int.Parse((await reader.LineAsync()).Split(' ')[1]);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var line = await reader.LineAsync(); line.Length > 0; line = await reader.LineAsync())
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        var body = new MemoryStream();
        if (headers.TryGetValue("Content-Length", out var length)) await reader.CopyAsync(body, int.Parse(length));
        else if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked"))
            for (int size; (size = Convert.ToInt32((await reader.LineAsync()).Split(';')[0], 16)) > 0; await reader.LineAsync())
                await reader.CopyAsync(body, size);
        else await reader.CopyAsync(body, int.MaxValue);
        return new Response(status, headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    sealed class BufferedReader(Stream stream)
    {
        readonly byte[] _buffer = new byte[8192];
        int _start, _end;

        async Task<bool> FillAsync()
        {
            if (_start < _end) return true;
            (_start, _end) = (0, await stream.ReadAsync(_buffer));
            return _end > 0;
        }

        public async Task<string> LineAsync()
        {
            var line = new StringBuilder();
            while (await FillAsync())
            {
                var c = (char)_buffer[_start++];
                if (c == '\n') return line.ToString().TrimEnd('\r');
                line.Append(c);
            }
            return line.ToString();
        }

        public async Task CopyAsync(Stream into, int count)
        {
            while (count > 0 && await FillAsync())
            {
                int n = Math.Min(count, _end - _start);
                into.Write(_buffer, _start, n);
                (_start, count) = (_start + n, count - n);
            }
        }
    }
}
