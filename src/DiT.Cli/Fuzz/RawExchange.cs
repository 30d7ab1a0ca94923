using System.Net.Sockets;
using System.Text;

namespace DiT.Cli.Fuzz;

/// <summary>How a fuzz request's bytes go out.</summary>
public enum Delivery
{
    /// <summary>All bytes, then read the answer.</summary>
    Whole,
    /// <summary>All bytes, then close at once (a client gone mid-body): no answer can be read.</summary>
    HangUp,
    /// <summary>All bytes of a body short of its Content-Length, then wait (bounded) for the server to give up on the rest.</summary>
    Stall,
}

/// <summary>One request over a bare socket, with the answer's status and the start of its text.</summary>
public static class RawExchange
{
    const int MaxAnswer = 64 * 1024;

    /// <summary>The status (null when none came within <paramref name="wait"/>, or the connection closed without one)
    /// and up to 64 KiB of the answer. Requests say "Connection: close", so an answer ends with the connection; an
    /// event stream never does, so for it the status and headers are enough.</summary>
    public static async Task<(int? Status, string Answer)> SendAsync(Uri server, byte[] request, Delivery delivery, TimeSpan wait)
    {
        using var tcp = new TcpClient { NoDelay = true };
        using var deadline = new CancellationTokenSource(wait);
        var answer = new MemoryStream();
        try
        {
            await tcp.ConnectAsync(server.Host, server.Port, deadline.Token);
            var stream = tcp.GetStream();
            await stream.WriteAsync(request, deadline.Token);
            if (delivery == Delivery.HangUp) return (null, "");
            var buffer = new byte[16 * 1024];
            int read;
            while (answer.Length < MaxAnswer && !IsEventStream(answer) && (read = await stream.ReadAsync(buffer, deadline.Token)) > 0)
                answer.Write(buffer, 0, read);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { } // what came so far is the answer
        var text = Encoding.UTF8.GetString(answer.ToArray());
        return (StatusOf(text), text);
    }

    static bool IsEventStream(MemoryStream answer)
    {
        var text = Encoding.ASCII.GetString(answer.GetBuffer(), 0, (int)answer.Length);
        int head = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return head > 0 && text[..head].Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }

    static int? StatusOf(string answer) =>
        answer.StartsWith("HTTP/1.", StringComparison.Ordinal) && answer.Length >= 12 && int.TryParse(answer.AsSpan(9, 3), out var status) ? status : null;
}
