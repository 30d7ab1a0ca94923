using System.Net.Http.Json;
using DiT.Serving.Engine;

namespace DiT.Api.Tests;

/// <summary>
/// The real engine, seen from the endpoints' side (every test factory serves through it): tells the tests when
/// requests have entered the engine's queue, and lets a request hold the engine thread at a chosen step. With
/// <see cref="GenerationEngine.HoldAdmissions"/> these make orderings certain instead of raced against the clock.
/// </summary>
public sealed class EngineProbe(GenerationEngine engine) : IImageGenerator
{
    readonly Lock _lock = new();
    readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    readonly List<(long? Seed, StepGate Gate)> _gates = [];
    int _entered;

    public GenerationEngine Engine => engine;

    /// <summary>Requests handed to the engine so far.</summary>
    public int Entered
    {
        get { lock (_lock) return _entered; }
    }
    public bool IsReady => engine.IsReady;
    public ServedModel? Model => engine.Model;
    public EngineStats Stats => engine.Stats;

    public Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<SamplingProgress>? progress, CancellationToken ct)
    {
        StepGate[] gates;
        lock (_lock) gates = _gates.Where(g => g.Seed is null || g.Seed == request.Seed).Select(g => g.Gate).ToArray();
        if (gates.Length > 0) progress = new GatedProgress(progress, gates);
        // The engine queues the request before its first await, so once this call returns the request is in the queue.
        var running = engine.GenerateAsync(request, progress, ct);
        lock (_lock)
        {
            _entered++;
            foreach (var waiter in _waiters.Where(w => _entered >= w.Count)) waiter.Done.TrySetResult();
        }
        return running;
    }

    /// <summary>Completes once <paramref name="count"/> requests in all (see <see cref="Entered"/>) have been handed to the engine.</summary>
    public Task EnteredAsync(int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_entered >= count) done.SetResult();
            else _waiters.Add((count, done));
        }
        return done.Task.WaitAsync(Hang.Guard);
    }

    /// <summary>POSTs every body to /generate while admissions are held, so all of them share their first step.</summary>
    public async Task<HttpResponseMessage[]> GenerateTogetherAsync(HttpClient client, IEnumerable<object> bodies)
    {
        Task<HttpResponseMessage>[] sent;
        using (engine.HoldAdmissions())
        {
            var entered = Entered;
            sent = bodies.Select(body => client.PostAsJsonAsync("/generate", body)).ToArray();
            await EnteredAsync(entered + sent.Length);
        }
        return await Task.WhenAll(sent);
    }

    /// <summary>Completes once nothing is queued or running and the engine's counters are final.</summary>
    public Task IdleAsync()
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (engine.Stats is { RunningRequests: 0, QueuedRequests: 0 }) idle.TrySetResult();
        }
        engine.RequestsLeft += Check;
        Check();
        return idle.Task.WaitAsync(Hang.Guard).ContinueWith(t => { engine.RequestsLeft -= Check; return t; }).Unwrap();
    }

    /// <summary>Requests with <paramref name="seed"/> (null: the first request of any seed) stop the engine thread when
    /// they report <paramref name="step"/>, until the gate is released (or disposed).</summary>
    public StepGate GateAt(long? seed, int step)
    {
        var gate = new StepGate(step);
        lock (_lock) _gates.Add((seed, gate));
        return gate;
    }

    sealed class GatedProgress(IProgress<SamplingProgress>? inner, StepGate[] gates) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value)
        {
            inner?.Report(value);
            foreach (var gate in gates) gate.Pass(value.Step);
        }
    }
}

/// <summary>Stops the engine thread at one step (progress is reported on that thread) until released.</summary>
public sealed class StepGate(int step) : IDisposable
{
    readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly ManualResetEventSlim _released = new();

    /// <summary>Completes when the engine thread has stopped at the step.</summary>
    public Task Reached => _reached.Task.WaitAsync(Hang.Guard);

    public void Release() => _released.Set();

    public void Dispose() => Release();

    internal void Pass(int reported)
    {
        if (reported != step || _released.IsSet) return;
        _reached.TrySetResult();
        if (!_released.Wait(Hang.Guard)) throw new TimeoutException($"the step-{step} gate was never released");
    }
}

/// <summary>How long a test waits for something that is certain to happen before calling it a hang. Never an
/// ordering: tests create their orderings, and this only turns a bug that blocks forever into a failure.</summary>
public static class Hang
{
    public static readonly TimeSpan Guard = TimeSpan.FromMinutes(3);
}
