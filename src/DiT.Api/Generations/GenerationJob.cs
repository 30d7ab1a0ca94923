using DiT.Api.Webhooks;

namespace DiT.Api.Generations;

public enum JobStatus { Queued, Running, Succeeded, Failed, Cancelled }

/// <summary>A finished image of a job: what GET shows of it. Its file (<see cref="Length"/> bytes) is kept apart, until the job expires.</summary>
public sealed record JobImage(int Index, long Seed, int Length, string ContentType, int Width, int Height, string ModelFingerprint, bool CacheHit);

/// <summary>Why a job failed, in words safe to show a client.</summary>
public sealed record GenerationError(string Title, string Detail);

/// <summary>The state of a job at one moment; <see cref="Version"/> grows with every change.</summary>
public sealed record JobSnapshot(string Id, long Version, JobStatus Status, GenerationSpec Spec, int StepsDone,
    IReadOnlyList<JobImage> Images, GenerationError? Error, WebhookState? Webhook,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, DateTimeOffset? ExpiresAt)
{
    public bool IsEnded => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}

public enum CancelOutcome { EndedNow, Cancelling, AlreadyEnded }

/// <summary>
/// One generation job's state, changed by the runner (and by the engine thread's progress reports, which must stay
/// cheap: a lock and a counter) and read by the endpoints. Every change bumps a version and completes the current
/// change signal, so readers (the event stream, Prefer: wait) wait for news instead of polling.
/// </summary>
public sealed class GenerationJob
{
    readonly Lock _lock = new();
    readonly CancellationTokenSource _cancel = new();
    readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly int[] _steps;
    readonly JobImage?[] _images;
    readonly byte[]?[] _files;
    readonly TimeSpan _retention;
    JobStatus _status = JobStatus.Queued;
    DateTimeOffset? _startedAt, _finishedAt;
    GenerationError? _error;
    WebhookState? _webhook;
    long _version;

    public GenerationJob(string id, GenerationSpec spec, string body, string? idempotencyKey, long reservedBytes,
        DateTimeOffset createdAt, TimeSpan retention)
    {
        (Id, Spec, Body, IdempotencyKey, ReservedBytes, CreatedAt, _retention) = (id, spec, body, idempotencyKey, reservedBytes, createdAt, retention);
        _steps = new int[spec.Count];
        _images = new JobImage?[spec.Count];
        _files = new byte[]?[spec.Count];
    }

    public string Id { get; }
    public GenerationSpec Spec { get; }

    /// <summary>The body as submitted (canonical JSON), compared on an Idempotency-Key replay.</summary>
    public string Body { get; }

    public string? IdempotencyKey { get; }

    /// <summary>Store bytes held for this job's images (their worst case), released when it is deleted.</summary>
    public long ReservedBytes { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>Fires when a client cancels: the job's images leave the engine.</summary>
    public CancellationToken Cancellation => _cancel.Token;

    /// <summary>Completes when the job has ended (succeeded, failed or cancelled).</summary>
    public Task Ended => _ended.Task;

    public bool CancelRequested => _cancel.IsCancellationRequested;

    public JobSnapshot Snapshot()
    {
        lock (_lock)
            return new JobSnapshot(Id, _version, _status, Spec, _steps.Sum(), [.. _images.OfType<JobImage>()], _error, _webhook,
                CreatedAt, _startedAt, _finishedAt, _finishedAt + _retention);
    }

    public bool IsExpired(DateTimeOffset now)
    {
        lock (_lock) return _finishedAt + _retention <= now;
    }

    /// <summary>Completes at the first change after <paramref name="version"/> (at once if there was one already).</summary>
    public Task ChangedSince(long version)
    {
        lock (_lock) return _version != version ? Task.CompletedTask : _changed.Task;
    }

    /// <summary>Queued -> running; false when the job was cancelled while it waited.</summary>
    public bool TryStart(DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_status != JobStatus.Queued) return false;
            _status = JobStatus.Running;
            _startedAt = now;
            Changed();
            return true;
        }
    }

    /// <summary>Called on the engine thread after each denoising step of image <paramref name="index"/>.</summary>
    public void ReportStep(int index, int step)
    {
        lock (_lock)
        {
            if (step <= _steps[index]) return;
            _steps[index] = step;
            Changed();
        }
    }

    public void AddImage(JobImage image, byte[] file)
    {
        lock (_lock)
        {
            _images[image.Index] = image;
            _files[image.Index] = file;
            _steps[image.Index] = Spec.Request.Steps; // a cached image took no steps, but it is done
            Changed();
        }
    }

    public (JobImage Image, byte[] File)? Image(int index)
    {
        lock (_lock) return _images[index] is { } image ? (image, _files[index]!) : null;
    }

    /// <summary>Running (or queued) -> an end state; false if it had already ended.</summary>
    public bool TryEnd(JobStatus status, GenerationError? error, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_status is not (JobStatus.Queued or JobStatus.Running)) return false;
            (_status, _error, _finishedAt) = (status, error, now);
            Changed();
        }
        _ended.TrySetResult();
        return true;
    }

    /// <summary>A queued job ends at once; a running one is told to stop (its images leave the engine) and ends when they have.</summary>
    public CancelOutcome Cancel(DateTimeOffset now)
    {
        bool queued;
        lock (_lock)
        {
            if (_status is not (JobStatus.Queued or JobStatus.Running)) return CancelOutcome.AlreadyEnded;
            queued = _status == JobStatus.Queued;
        }
        if (queued) return TryEnd(JobStatus.Cancelled, null, now) ? CancelOutcome.EndedNow : Cancel(now); // lost a race with the runner: again
        _cancel.Cancel(); // outside the lock: it runs the engine's cancellation callbacks
        return CancelOutcome.Cancelling;
    }

    public void SetWebhook(WebhookState state)
    {
        lock (_lock)
        {
            _webhook = state;
            Changed();
        }
    }

    void Changed() // under the lock
    {
        _version++;
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
