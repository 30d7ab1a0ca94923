using System.Text.Json;
using DiT.Serving.Engine;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DiT.Api.Generations.Shared;

/// <summary>
/// Jobs in Redis, shared by every replica: a submit writes the job's hash and adds it to the stream (one script, which
/// also checks the Idempotency-Key and the queue's length), any replica reads it, and the <see cref="RedisJobWorker"/>
/// of whichever replica has room runs it. Readers wait for changes on the "changed" channel, not by polling.
/// </summary>
public sealed class RedisGenerationJobs(RedisJobConnection redis, RedisJobWorker worker, GenerationsValidator validator, IImageGenerator engine,
    IOptions<GenerationsOptions> options, TimeProvider time) : IGenerationJobs
{
    /// <summary>A reader also looks again this often, in case a change notice was lost while Redis reconnected.</summary>
    static readonly TimeSpan Recheck = TimeSpan.FromSeconds(5);

    readonly GenerationsOptions _options = options.Value;
    RedisJobKeys Keys => redis.Keys;

    public async Task<Submission> SubmitAsync(GenerationSpec spec, GenerationsBody body, string? idempotencyKey, long reservedBytes, CancellationToken ct)
    {
        // Compared as canonical JSON: the same fields and values, whatever the spacing or order they were sent in.
        var canonical = JsonSerializer.Serialize(body, JsonSerializerOptions.Web);
        var id = Guid.NewGuid().ToString("N");
        var fields = RedisJobState.New(id, spec, canonical, idempotencyKey, time.GetUtcNow());
        var ttl = (long)(_options.MaxJobAge + _options.Retention).TotalSeconds;
        var result = (RedisResult[])(await redis.CallAsync(db => db.ScriptEvaluateAsync(RedisJobScripts.Submit,
            [Keys.Job(id), Keys.Stream, idempotencyKey is null ? Keys.Job(id) : Keys.IdempotencyKey(idempotencyKey)],
            [id, idempotencyKey is null ? 0 : 1, ttl, _options.MaxQueuedJobs, .. fields.SelectMany(f => new[] { (RedisValue)f.Name, f.Value })])))!;
        switch (result[0].ToString())
        {
            case "full":
                return new Submission(AddOutcome.QueueFull, null);
            case "replayed":
                var earlierId = result[1].ToString();
                var earlier = await GetAsync(earlierId, ct);
                var earlierBody = await redis.CallAsync(db => db.HashGetAsync(Keys.Job(earlierId), "body"));
                if (earlier is null) return await SubmitAsync(spec, body, idempotencyKey, reservedBytes, ct); // expired in between
                return new Submission(earlierBody == canonical ? AddOutcome.Replayed : AddOutcome.KeyReused, earlier);
        }
        worker.Submitted(); // this replica may have room: no need to wait for the notice
        await redis.CallAsync(db => db.PublishAsync(Keys.Submitted, id));
        return new Submission(AddOutcome.Added, await GetAsync(id, ct));
    }

    public async Task<JobSnapshot?> GetAsync(string id, CancellationToken ct)
    {
        var hash = await redis.CallAsync(db => db.HashGetAllAsync(Keys.Job(id)));
        if (engine.Model is not { } model) throw new JobStoreUnavailableException("The model is not loaded yet.");
        return RedisJobState.Read(id, hash, validator, model, _options.Retention);
    }

    public async Task<JobSnapshot?> NextAsync(string id, long version, CancellationToken ct)
    {
        while (true)
        {
            var change = await redis.NextChangeAsync(id); // registered before the read: no change falls in between
            var snapshot = await GetAsync(id, ct);
            if (snapshot is null || snapshot.Version != version) return snapshot;
            await Task.WhenAny(change, Task.Delay(Recheck, time, ct)).WaitAsync(ct);
        }
    }

    public async Task<(JobImage Image, byte[] File)?> ImageAsync(string id, int k, CancellationToken ct)
    {
        var meta = await redis.CallAsync(db => db.HashGetAsync(Keys.Job(id), $"img:{k}"));
        if (meta.IsNullOrEmpty) return null;
        var file = await redis.CallAsync(db => db.StringGetAsync(Keys.Image(id, k)));
        if (file.IsNull) return null;
        return (JsonSerializer.Deserialize<JobImage>(meta.ToString(), JsonSerializerOptions.Web)!, (byte[])file!);
    }

    public async Task<JobSnapshot?> CancelAsync(string id, CancellationToken ct)
    {
        var outcome = (await redis.CallAsync(db => db.ScriptEvaluateAsync(RedisJobScripts.Cancel, [Keys.Job(id)],
            [RedisJobState.Time(time.GetUtcNow()), (long)_options.Retention.TotalSeconds, Keys.Changed.ToString(), id, Keys.Prefix,
             Keys.Cancels.ToString()]))).ToString();
        if (outcome == "none") return null;
        var snapshot = await GetAsync(id, ct);
        if (outcome == "ended" && snapshot is not null) worker.EndedHere(snapshot);
        while (snapshot is { IsEnded: false }) // its replica stops it (or, if that replica is gone, the one that claims it)
            snapshot = await NextAsync(id, snapshot.Version, ct);
        return snapshot;
    }
}
