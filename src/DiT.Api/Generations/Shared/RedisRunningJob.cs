using System.Threading.Channels;
using StackExchange.Redis;

namespace DiT.Api.Generations.Shared;

/// <summary>
/// One run of a shared job on this replica: keeps its steps and images here (the end commits them all at once, so a Redis
/// outage mid-job loses nothing) and sends progress and each image to Redis as they come, best effort and fenced by the
/// run's <see cref="Attempt"/>. Step reports come from the engine thread: they only bump a counter and wake the flusher,
/// which sends the latest steps (reports in between are merged).
/// </summary>
sealed class RedisRunningJob : IJobProgress
{
    readonly RedisJobConnection _redis;
    readonly Lock _lock = new();
    readonly int[] _steps;
    readonly (JobImage Image, byte[] File)?[] _images;
    readonly CancellationTokenSource _cancel = new();
    readonly Channel<bool> _dirty = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    readonly Task _flushing;

    public RedisRunningJob(RedisJobConnection redis, string id, RedisValue entry, long attempt, GenerationSpec spec)
    {
        (_redis, Id, Entry, Attempt, Spec) = (redis, id, entry, attempt, spec);
        _steps = new int[spec.Count];
        _images = new (JobImage, byte[])?[spec.Count];
        _flushing = FlushAsync();
    }

    public string Id { get; }
    public RedisValue Entry { get; }

    /// <summary>The fencing token: Redis takes this run's writes only while the job's attempt is still this one.</summary>
    public long Attempt { get; }

    public GenerationSpec Spec { get; }
    public CancellationToken Cancellation => _cancel.Token;

    /// <summary>Another replica took the job over (this one's claim lapsed): stop working on it.</summary>
    public bool Lost { get; private set; }

    public void Cancel() => _cancel.Cancel();

    public void Lose()
    {
        Lost = true;
        _cancel.Cancel();
    }

    public void ReportStep(int index, int step)
    {
        lock (_lock)
        {
            if (step <= _steps[index]) return;
            _steps[index] = step;
        }
        _dirty.Writer.TryWrite(true);
    }

    public async Task AddImageAsync(JobImage image, byte[] file)
    {
        string steps;
        lock (_lock)
        {
            _images[image.Index] = (image, file);
            _steps[image.Index] = Spec.Request.Steps; // a cached image took no steps, but it is done
            steps = StepsCsv();
        }
        var keys = _redis.Keys;
        try
        {
            var db = await _redis.DatabaseAsync();
            await db.ScriptEvaluateAsync(RedisJobScripts.Image, [keys.Job(Id), keys.Image(Id, image.Index)],
                [Attempt, image.Index, Meta(image), file, steps, keys.Changed.ToString(), Id]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { } // the end commits it again
    }

    /// <summary>The steps and finished images, for the commit at the end.</summary>
    public (string Steps, (JobImage Image, byte[] File)[] Images) Result()
    {
        lock (_lock) return (StepsCsv(), [.. _images.OfType<(JobImage, byte[])>()]);
    }

    public async Task StopFlushingAsync()
    {
        _dirty.Writer.TryComplete();
        await _flushing;
    }

    async Task FlushAsync()
    {
        var keys = _redis.Keys;
        await foreach (var _ in _dirty.Reader.ReadAllAsync())
        {
            string steps;
            lock (_lock) steps = StepsCsv();
            try
            {
                var db = await _redis.DatabaseAsync();
                await db.ScriptEvaluateAsync(RedisJobScripts.Progress, [keys.Job(Id)], [Attempt, steps, keys.Changed.ToString(), Id]);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or JobStoreUnavailableException) { } // progress is best effort
        }
    }

    string StepsCsv() => RedisJobState.Steps(_steps); // under the lock

    public static string Meta(JobImage image) => System.Text.Json.JsonSerializer.Serialize(image, System.Text.Json.JsonSerializerOptions.Web);
}
