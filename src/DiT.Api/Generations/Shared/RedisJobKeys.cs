using StackExchange.Redis;

namespace DiT.Api.Generations.Shared;

/// <summary>
/// The shared queue's key scheme, all under one prefix: the stream of submitted jobs and its consumer group, one hash per
/// job, one string per image file, one per Idempotency-Key, and three pub/sub channels (a job changed, a job was
/// submitted or handed back, a job is to be cancelled). The scripts build image and key names from the same scheme, so
/// the queue needs one Redis (not a cluster).
/// </summary>
public sealed class RedisJobKeys(string prefix)
{
    public const string Group = "workers";

    public string Prefix => prefix;
    public RedisKey Stream => prefix + ":stream";
    public RedisKey Job(string id) => $"{prefix}:job:{id}";
    public RedisKey Image(string id, int k) => $"{prefix}:job:{id}:img:{k}";
    public RedisKey IdempotencyKey(string key) => $"{prefix}:key:{key}";
    public RedisChannel Changed => RedisChannel.Literal(prefix + ":changed");
    public RedisChannel Submitted => RedisChannel.Literal(prefix + ":submitted");
    public RedisChannel Cancels => RedisChannel.Literal(prefix + ":cancel");
}
