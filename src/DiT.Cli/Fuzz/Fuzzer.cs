using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace DiT.Cli.Fuzz;

/// <summary>What a fuzz run saw: answers per status and per kind of request, the answers that fail it, and the
/// requests that waited for an answer in vain (a hang, or a machine too slow for the wait).</summary>
public sealed record FuzzReport(
    IReadOnlyDictionary<string, int> ByStatus, IReadOnlyDictionary<(string Kind, string Status), int> ByKind,
    IReadOnlyList<string> Failures, IReadOnlyList<string> Unanswered, TimeSpan Took)
{
    /// <summary>The status of a request that got no answer (a hang-up on purpose, or a connection closed without one).</summary>
    public const string NoAnswer = "none";
}

/// <summary>Sends <see cref="FuzzRequests"/> to a service and counts the answers. A 5xx, or a 4xx that quotes an
/// exception, is a failure.</summary>
public static class Fuzzer
{
    public static async Task<FuzzReport> RunAsync(Uri server, int total, int seed, int concurrency, string? apiKey, TimeSpan wait)
    {
        var requests = new FuzzRequests(server, apiKey, new Random(seed));
        var byStatus = new ConcurrentDictionary<string, int>();
        var byKind = new ConcurrentDictionary<(string Kind, string Status), int>();
        var failures = new ConcurrentQueue<string>();
        var unanswered = new ConcurrentQueue<string>();
        int sent = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                FuzzRequest request;
                lock (requests) // one sequence from the seed, whatever the concurrency
                {
                    if (sent == total) return;
                    sent++;
                    request = requests.Next();
                }
                var (status, answer) = await RawExchange.SendAsync(server, request.Bytes, request.Delivery, wait);
                var key = status?.ToString(CultureInfo.InvariantCulture) ?? FuzzReport.NoAnswer;
                byStatus.AddOrUpdate(key, 1, (_, n) => n + 1);
                byKind.AddOrUpdate((request.Kind, key), 1, (_, n) => n + 1);
                if (status >= 500 || (status >= 400 && QuotesAnException(answer)))
                    failures.Enqueue($"{status} {request.Kind}: {request.Method} {Shorten(request.Path)} -> {Shorten(answer.Split('\n')[0])}");
                if (status is null && request.Delivery != Delivery.HangUp)
                    unanswered.Enqueue($"{request.Kind}: {request.Method} {Shorten(request.Path)} ({(answer.Length == 0 ? "nothing came" : Shorten(answer.Split('\n')[0]))})");
            }
        })));
        return new FuzzReport(new Dictionary<string, int>(byStatus), new Dictionary<(string, string), int>(byKind), [.. failures], [.. unanswered], clock.Elapsed);
    }

    static bool QuotesAnException(string answer) =>
        answer.Contains("Exception", StringComparison.Ordinal) || answer.Contains("   at ", StringComparison.Ordinal);

    static string Shorten(string text) => text.Length <= 120 ? text.TrimEnd('\r') : text[..120] + "…";
}
