namespace DiT.Api.Generations.Shared;

/// <summary>
/// The shared queue's state changes, each one Lua script so it is atomic. A run of a job holds a fencing token (the
/// job's <c>attempt</c>, bumped by every start): progress, images, the end and a hand-back commit only while the token
/// still matches, so a replica presumed dead cannot write over the run that replaced it, and a job ends exactly once.
/// Every change bumps the job's <c>version</c> and publishes its id on the changed channel.
/// </summary>
static class RedisJobScripts
{
    // KEYS[1] job; ARGV: now, retention s, changed channel, id, prefix, status, error json, stream, entry id ('' = none).
    // Ends the job: its hash, images and Idempotency-Key keep the retention from now on; its stream entry goes.
    const string Finish = """
        local function finish(job, now, retention, channel, id, prefix, status, err, stream, entry)
          redis.call('HSET', job, 'status', status, 'finishedAt', now, 'owner', '')
          if err ~= '' then redis.call('HSET', job, 'error', err) end
          redis.call('HINCRBY', job, 'version', 1)
          redis.call('EXPIRE', job, retention)
          local key = redis.call('HGET', job, 'key')
          if key then redis.call('EXPIRE', prefix .. ':key:' .. key, retention) end
          local n = tonumber(redis.call('HGET', job, 'n') or '0')
          for k = 0, n - 1 do redis.call('EXPIRE', job .. ':img:' .. k, retention) end
          if entry ~= '' then
            redis.call('XACK', stream, 'workers', entry)
            redis.call('XDEL', stream, entry)
          end
          redis.call('PUBLISH', channel, id)
        end
        local function changed(job, channel, id)
          redis.call('HINCRBY', job, 'version', 1)
          redis.call('PUBLISH', channel, id)
        end
        local function clearImages(job)
          local n = tonumber(redis.call('HGET', job, 'n') or '0')
          for k = 0, n - 1 do
            redis.call('HDEL', job, 'img:' .. k)
            redis.call('DEL', job .. ':img:' .. k)
          end
        end

        """;

    /// <summary>KEYS: job, stream, idempotency key (the job's when none). ARGV: id, has key, ttl s, max queued, then field/value pairs.
    /// Returns {added|replayed|full, id}.</summary>
    public const string Submit = """
        local job, stream, idem = KEYS[1], KEYS[2], KEYS[3]
        if ARGV[2] == '1' then
          local existing = redis.call('GET', idem)
          if existing then return {'replayed', existing} end
        end
        if redis.call('XLEN', stream) >= tonumber(ARGV[4]) then return {'full', ''} end
        local fields = {}
        for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
        redis.call('HSET', job, unpack(fields))
        redis.call('EXPIRE', job, ARGV[3])
        if ARGV[2] == '1' then redis.call('SET', idem, ARGV[1], 'EX', ARGV[3]) end
        redis.call('XADD', stream, '*', 'id', ARGV[1])
        return {'added', ARGV[1]}
        """;

    /// <summary>KEYS: job, stream. ARGV: entry, consumer, now, max attempts, retention s, changed channel, id, prefix.
    /// Starts a run: {started, attempt}, or {gone|ended|cancelled|failed} (the entry is acknowledged). A job whose last
    /// owner never handed it back counts that run as failed.</summary>
    public static readonly string Start = Finish + """
        local job, stream = KEYS[1], KEYS[2]
        local entry, consumer, now, maxAttempts, retention, channel, id, prefix = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], ARGV[8]
        local status = redis.call('HGET', job, 'status')
        if not status or (status ~= 'queued' and status ~= 'running') then
          redis.call('XACK', stream, 'workers', entry)
          redis.call('XDEL', stream, entry)
          return {status and 'ended' or 'gone', '0'}
        end
        if redis.call('HGET', job, 'cancel') == '1' then
          finish(job, now, retention, channel, id, prefix, 'cancelled', '', stream, entry)
          return {'cancelled', '0'}
        end
        local failures = tonumber(redis.call('HGET', job, 'failures') or '0')
        local owner = redis.call('HGET', job, 'owner')
        if owner and owner ~= '' then
          failures = failures + 1
          redis.call('HSET', job, 'failures', failures, 'lastError', 'replica ' .. owner .. ' stopped renewing its claim while it ran the job')
        end
        if failures >= maxAttempts then
          local err = cjson.encode({title = 'Generation failed', detail = 'The job failed ' .. failures .. ' time(s), the last: ' ..
            (redis.call('HGET', job, 'lastError') or 'unknown') .. '.'})
          finish(job, now, retention, channel, id, prefix, 'failed', err, stream, entry)
          return {'failed', '0'}
        end
        local attempt = redis.call('HINCRBY', job, 'attempt', 1)
        clearImages(job)
        redis.call('HSET', job, 'status', 'running', 'owner', consumer, 'steps', '')
        if not redis.call('HGET', job, 'startedAt') then redis.call('HSET', job, 'startedAt', now) end
        changed(job, channel, id)
        return {'started', tostring(attempt)}
        """;

    /// <summary>KEYS: job. ARGV: attempt, steps csv, changed channel, id. 1 when written, 0 when the run was replaced.</summary>
    public static readonly string Progress = Finish + """
        local job = KEYS[1]
        if redis.call('HGET', job, 'attempt') ~= ARGV[1] or redis.call('HGET', job, 'status') ~= 'running' then return 0 end
        redis.call('HSET', job, 'steps', ARGV[2])
        changed(job, ARGV[3], ARGV[4])
        return 1
        """;

    /// <summary>KEYS: job, image. ARGV: attempt, k, meta json, file, steps csv, changed channel, id. 1, or 0 when the run was replaced.</summary>
    public static readonly string Image = Finish + """
        local job, image = KEYS[1], KEYS[2]
        if redis.call('HGET', job, 'attempt') ~= ARGV[1] or redis.call('HGET', job, 'status') ~= 'running' then return 0 end
        redis.call('SET', image, ARGV[4])
        redis.call('PEXPIRE', image, math.max(redis.call('PTTL', job), 1000))
        redis.call('HSET', job, 'img:' .. ARGV[2], ARGV[3], 'steps', ARGV[5])
        changed(job, ARGV[6], ARGV[7])
        return 1
        """;

    /// <summary>KEYS: job, stream. ARGV: attempt, entry, status, error json, now, retention s, changed channel, id, prefix,
    /// steps csv, then (k, meta json, file) per image. 1 when the job ended now, 0 when the run was replaced (its result is
    /// discarded). A retry of a commit that Redis applied but whose answer never arrived (a client timeout) answers 1
    /// again: <c>committed</c> keeps the attempt that ended the job.</summary>
    public static readonly string Commit = Finish + """
        local job, stream = KEYS[1], KEYS[2]
        if redis.call('HGET', job, 'committed') == ARGV[1] then return 1 end
        if redis.call('HGET', job, 'attempt') ~= ARGV[1] or redis.call('HGET', job, 'status') ~= 'running' then return 0 end
        for i = 11, #ARGV, 3 do
          local file = job .. ':img:' .. ARGV[i]
          redis.call('SET', file, ARGV[i + 2])
          redis.call('HSET', job, 'img:' .. ARGV[i], ARGV[i + 1])
        end
        redis.call('HSET', job, 'steps', ARGV[10], 'committed', ARGV[1])
        finish(job, ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[3], ARGV[4], stream, ARGV[2])
        return 1
        """;

    /// <summary>KEYS: job, stream. ARGV: attempt, entry, failed (1/0), last error, max attempts, now, retention s, changed
    /// channel, id, prefix, idle ms, submitted channel. Hands a run back to the queue, where any replica claims it at
    /// once: 1; 2 when that was its last allowed failure (it ended failed); 0 when the run had been replaced.</summary>
    public static readonly string HandBack = Finish + """
        local job, stream = KEYS[1], KEYS[2]
        if redis.call('HGET', job, 'attempt') ~= ARGV[1] or redis.call('HGET', job, 'status') ~= 'running' then return 0 end
        local failures = tonumber(redis.call('HGET', job, 'failures') or '0')
        if ARGV[3] == '1' then
          failures = failures + 1
          redis.call('HSET', job, 'failures', failures, 'lastError', ARGV[4])
        end
        if failures >= tonumber(ARGV[5]) then
          local err = cjson.encode({title = 'Generation failed', detail = 'The job failed ' .. failures .. ' time(s), the last: ' .. ARGV[4] .. '.'})
          finish(job, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], 'failed', err, stream, ARGV[2])
          return 2
        end
        clearImages(job)
        redis.call('HSET', job, 'status', 'queued', 'owner', '', 'steps', '')
        changed(job, ARGV[8], ARGV[9])
        redis.call('XCLAIM', stream, 'workers', 'handed-back', 0, ARGV[2], 'IDLE', ARGV[11], 'JUSTID')
        redis.call('PUBLISH', ARGV[12], ARGV[9])
        return 1
        """;

    /// <summary>KEYS: job, stream. ARGV: attempt, consumer, entry. Renews this run's claim (its idle time starts again):
    /// 1, or 0 when the run was replaced.</summary>
    public static readonly string Renew = """
        if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
        redis.call('XCLAIM', KEYS[2], 'workers', ARGV[2], 0, ARGV[3], 'JUSTID')
        return 1
        """;

    /// <summary>KEYS: job. ARGV: now, retention s, changed channel, id, prefix, cancel channel. A queued job ends now
    /// (ended); a running one is flagged and its replica told (cancelling); else none or already.</summary>
    public static readonly string Cancel = Finish + """
        local job = KEYS[1]
        local status = redis.call('HGET', job, 'status')
        if not status then return 'none' end
        if status == 'queued' then
          finish(job, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], 'cancelled', '', '', '')
          return 'ended'
        end
        if status == 'running' then
          redis.call('HSET', job, 'cancel', '1')
          redis.call('PUBLISH', ARGV[6], ARGV[4])
          return 'cancelling'
        end
        return 'already'
        """;

    /// <summary>KEYS: job. ARGV: webhook state json, changed channel, id. Records the end webhook's delivery (whichever replica sends it).</summary>
    public static readonly string Webhook = Finish + """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'webhook', ARGV[1])
        changed(KEYS[1], ARGV[2], ARGV[3])
        return 1
        """;
}
