using System.Collections.Concurrent;
using System.Threading.Channels;
using DiT.Serving.Engine;

namespace DiT.Api.Generate;

/// <summary>
/// Per-request progress streams keyed by a client-chosen request id: <c>POST /generate</c> with header
/// <see cref="RequestIdHeader"/> publishes its sampling steps, <c>GET /generate/progress/{id}</c> subscribes.
/// Either side may come first. Progress is best effort: reporting never blocks or fails the engine (a bounded
/// buffer keeps the latest steps), and a stream lives only while one of its two sides does. Subscriptions are counted
/// per client address, so one client cannot take every slot.
/// </summary>
public sealed class ProgressStreams
{
    public const string RequestIdHeader = "X-Request-Id";

    readonly ConcurrentDictionary<string, ProgressStream> _streams = new(StringComparer.Ordinal);
    readonly Dictionary<string, int> _perClient = new(StringComparer.Ordinal);
    readonly Lock _lock = new();

    /// <summary>Streams open at once (both sides together); beyond it subscribing answers 429.</summary>
    public int MaxStreams { get; init; } = 1024;

    /// <summary>Subscriptions one client address may hold at once; beyond it that client gets 429.</summary>
    public int MaxStreamsPerClient { get; init; } = 64;

    /// <summary>How long a subscriber waits for its /generate request to start before its stream ends ("expired").</summary>
    public TimeSpan PublisherWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Ids are 8-64 characters of [A-Za-z0-9_-], so they are unguessable when random and safe in a URL.</summary>
    public static bool IsValidId(string? id) =>
        id is { Length: >= 8 and <= 64 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public int Count => _streams.Count;

    public bool IsOpen(string id) => _streams.ContainsKey(id);

    /// <summary>The publishing side for a request, or null (no or invalid id, id already publishing, too many streams):
    /// then the request simply runs without progress. Dispose it when the request is done.</summary>
    public ProgressPublisher? Publish(string? id)
    {
        if (!IsValidId(id) || Open(id!) is not { } stream || !stream.TryClaim(ref stream.Publishers)) return null;
        return new ProgressPublisher(this, id!, stream);
    }

    /// <summary>The subscribing side for <paramref name="client"/> (its address), or null with the reason: <see cref="SubscribeError"/>.</summary>
    public (ProgressStream? Stream, SubscribeError Error) Subscribe(string id, string client)
    {
        if (!TakeClientSlot(client)) return (null, SubscribeError.TooManyFromClient);
        var stream = Open(id);
        var error = stream is null ? SubscribeError.TooManyStreams
            : !stream.TryClaim(ref stream.Subscribers) ? SubscribeError.AlreadySubscribed
            : SubscribeError.None;
        if (error != SubscribeError.None)
        {
            ReleaseClientSlot(client);
            return (null, error);
        }
        stream!.SubscriberClient = client;
        return (stream, SubscribeError.None);
    }

    /// <summary>Forgets a stream once its subscriber is gone (or its publisher finished with nobody listening), and gives
    /// its subscriber's slot back (once, whichever side closes last).</summary>
    internal void Close(string id, ProgressStream stream)
    {
        _streams.TryRemove(KeyValuePair.Create(id, stream));
        if (Interlocked.Exchange(ref stream.SubscriberClient, null) is { } client) ReleaseClientSlot(client);
    }

    /// <summary>Subscriptions <paramref name="client"/> holds now.</summary>
    public int CountOf(string client)
    {
        lock (_lock) return _perClient.GetValueOrDefault(client);
    }

    bool TakeClientSlot(string client)
    {
        lock (_lock)
        {
            int held = _perClient.GetValueOrDefault(client);
            if (held >= MaxStreamsPerClient) return false;
            _perClient[client] = held + 1;
            return true;
        }
    }

    void ReleaseClientSlot(string client)
    {
        lock (_lock)
        {
            int held = _perClient.GetValueOrDefault(client) - 1;
            if (held > 0) _perClient[client] = held;
            else _perClient.Remove(client); // no entry per address ever seen
        }
    }

    ProgressStream? Open(string id) =>
        _streams.TryGetValue(id, out var existing) ? existing
        : _streams.Count >= MaxStreams ? null
        : _streams.GetOrAdd(id, _ => new ProgressStream());
}

public enum SubscribeError { None, TooManyStreams, TooManyFromClient, AlreadySubscribed }

/// <summary>One request's steps: a small drop-oldest buffer between the engine thread and one SSE response.</summary>
public sealed class ProgressStream
{
    internal int Publishers, Subscribers;
    internal string? SubscriberClient; // the subscriber's address while it holds a per-client slot

    readonly Channel<SamplingProgress> _steps = Channel.CreateBounded<SamplingProgress>(
        new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    readonly TaskCompletionSource _published = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a /generate request with this id has started.</summary>
    public Task Published => _published.Task;

    public ChannelReader<SamplingProgress> Steps => _steps.Reader;

    public bool HasSubscriber => Volatile.Read(ref Subscribers) > 0;

    internal bool TryClaim(ref int side) => Interlocked.CompareExchange(ref side, 1, 0) == 0;

    internal void Started() => _published.TrySetResult();

    internal void Report(SamplingProgress step) => _steps.Writer.TryWrite(step); // never blocks: drops the oldest

    internal void Finish() => _steps.Writer.TryComplete();
}

/// <summary>What <c>POST /generate</c> hands the engine: reports go to the stream, disposing ends it.</summary>
public sealed class ProgressPublisher : IProgress<SamplingProgress>, IDisposable
{
    readonly ProgressStreams _owner;
    readonly string _id;
    readonly ProgressStream _stream;

    internal ProgressPublisher(ProgressStreams owner, string id, ProgressStream stream)
    {
        (_owner, _id, _stream) = (owner, id, stream);
        stream.Started();
    }

    public void Report(SamplingProgress value) => _stream.Report(value);

    public void Dispose()
    {
        _stream.Finish();
        if (!_stream.HasSubscriber) _owner.Close(_id, _stream); // else the subscriber closes it after reading the rest
    }
}
