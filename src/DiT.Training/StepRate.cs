using System.Diagnostics;

namespace DiT.Training;

/// <summary>A training loop's speed: steps per second smoothed over steps (0.9 old, 0.1 new), and the time left at it.</summary>
internal sealed class StepRate
{
    readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>Null until a step has been timed.</summary>
    public double? PerSecond { get; private set; }

    /// <summary>Runs one step and folds its duration into <see cref="PerSecond"/>.</summary>
    public T Time<T>(Func<T> step)
    {
        var started = _clock.Elapsed;
        var result = step();
        double seconds = Math.Max((_clock.Elapsed - started).TotalSeconds, 1e-9);
        PerSecond = PerSecond is { } rate ? 0.9 * rate + 0.1 / seconds : 1 / seconds;
        return result;
    }

    public TimeSpan TimeLeft(long stepsLeft) => TimeSpan.FromSeconds(stepsLeft / (PerSecond ?? double.PositiveInfinity));
}
