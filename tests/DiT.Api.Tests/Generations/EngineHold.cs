using DiT.Api.Engine;

namespace DiT.Api.Tests.Generations;

/// <summary>
/// Holds the real engine still, so a test can create an ordering instead of racing it: a long request whose progress
/// hook runs on the engine thread (after each of its steps) and blocks there when <c>holdWhen</c> says so, until the test
/// lets one more round through (<see cref="Step"/>) or lets it run (<see cref="Release"/>). With continuous batching
/// every running batch steps on that one thread, the holder's batch first (it started first), so nothing else moves
/// while it is blocked. Its first step also waits until <c>others</c> more requests are in the engine (queued or admitted),
/// so a test can submit them after starting the hold.
/// </summary>
public sealed class EngineHold : IProgress<SamplingProgress>, IAsyncDisposable
{
    public static readonly GenerationRequest LongRequest = new(0, 1.0, 1000, Sampler.Ddim, 1);

    readonly IImageGenerator _engine;
    readonly int _others;
    readonly Func<int, EngineStats, bool> _holdWhen;
    readonly SemaphoreSlim _rounds = new(0);
    readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource<EngineStats> _aloneAfterRelease = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CancellationTokenSource _stop = new();
    volatile bool _released;
    Task _request = Task.CompletedTask;

    EngineHold(IImageGenerator engine, int others, Func<int, EngineStats, bool> holdWhen) =>
        (_engine, _others, _holdWhen) = (engine, others, holdWhen);

    /// <param name="holdWhen">(holder's step, engine stats) -> block at this step; evaluated on the engine thread.</param>
    public static EngineHold Start(IImageGenerator engine, int others = 0, Func<int, EngineStats, bool>? holdWhen = null)
    {
        var hold = new EngineHold(engine, others, holdWhen ?? ((_, _) => true));
        hold._request = engine.GenerateAsync(LongRequest, hold, hold._stop.Token);
        return hold;
    }

    /// <summary>Completes the first time the engine thread blocks in the hook (the minute guards against a hang).</summary>
    public Task Holding => _holding.Task.WaitAsync(TimeSpan.FromMinutes(1));

    /// <summary>After <see cref="Release"/>: the engine stats seen by the holder once it is the only request running
    /// (the engine has dropped every other row).</summary>
    public Task<EngineStats> AloneAfterRelease => _aloneAfterRelease.Task;

    public void Step() => _rounds.Release();

    /// <summary>Requests in the engine besides the holder: waiting, or admitted (they may have joined in the holder's first round).</summary>
    static int Others(EngineStats stats) => stats.QueuedRequests + stats.RunningRequests - 1;

    public void Release()
    {
        _released = true;
        _rounds.Release();
    }

    public void Report(SamplingProgress value)
    {
        if (value.Step == 1) SpinWait.SpinUntil(() => _released || Others(_engine.Stats) >= _others); // disposing ends the wait too
        var stats = _engine.Stats;
        if (_released)
        {
            if (stats.RunningRequests == 1) _aloneAfterRelease.TrySetResult(stats);
            return;
        }
        if (!_holdWhen(value.Step, stats)) return;
        _holding.TrySetResult();
        _rounds.Wait();
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        await _stop.CancelAsync();
        try { await _request; }
        catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
