using Microsoft.Extensions.Options;

namespace DiT.Api.Generations;

/// <summary>Deletes expired jobs every Generations:SweepInterval, so their images' memory is freed even if nobody asks again.</summary>
public sealed partial class ExpiredJobSweeper(GenerationJobStore store, IOptions<GenerationsOptions> options, ILogger<ExpiredJobSweeper> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                if (store.Sweep() is > 0 and var deleted) LogSwept(deleted);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Deleted {Count} expired generation job(s)")]
    partial void LogSwept(int count);
}
