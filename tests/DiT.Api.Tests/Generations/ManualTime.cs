namespace DiT.Api.Tests.Generations;

/// <summary>A clock the test moves (timers still run on real time).</summary>
public sealed class ManualTime : TimeProvider
{
    DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
