using System.Threading.Channels;
using DiT.Api.Options;
using DiT.Model.Checkpoints;
using DiT.Model.IO;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using DiT.Training;
using DiT.Training.Data;
using Microsoft.Extensions.Options;

namespace DiT.Api.Training;

/// <summary>
/// Runs fine-tuning jobs one at a time (one device), in order, from a bounded queue. Each job runs synchronously on its
/// own long-running thread (TorchSharp dispose scopes are thread-static). Between steps the trainer yields while the
/// inference engine has queued or running requests, so a generation request waits at most one training step.
/// Cancelling saves a checkpoint; stopping the service does too and leaves the job "interrupted" (resumable).
/// </summary>
public sealed partial class TrainingJobRunner(
    JobStore store, IImageGenerator engine, IOptions<TrainingJobsOptions> options, IOptions<ModelOptions> model,
    ILogger<TrainingJobRunner> log) : BackgroundService
{
    static readonly TimeSpan ServingPoll = TimeSpan.FromMilliseconds(5);

    readonly Channel<string> _queue = Channel.CreateBounded<string>(new BoundedChannelOptions(options.Value.QueueCapacity) { SingleReader = true });
    readonly Lock _lock = new();
    (string Id, CancellationTokenSource Cancel)? _current;

    /// <summary>Queues a job that is in state Queued; false when the queue is full.</summary>
    public bool TryEnqueue(string id) => _queue.Writer.TryWrite(id);

    /// <summary>Asks the running job to stop after its current step (it then saves a checkpoint).</summary>
    public void CancelRunning(string id)
    {
        lock (_lock) if (_current is { } c && c.Id == id) c.Cancel.Cancel();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var id in _queue.Reader.ReadAllAsync(stoppingToken))
                await Task.Factory.StartNew(() => RunJob(id, stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    void RunJob(string id, CancellationToken stopping)
    {
        if (stopping.IsCancellationRequested) return; // stays queued on disk: the next start marks it interrupted
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        bool started = false;
        store.Update(id, j =>
        {
            if (j.State != JobState.Queued) return j; // cancelled while it waited
            started = true;
            return j with { State = JobState.Running, Phase = "starting", StartedAt = DateTimeOffset.UtcNow, FinishedAt = null, Error = null };
        });
        if (!started) return;
        lock (_lock) _current = (id, cancel);
        var job = store.Get(id)!;
        if (job.CancelRequested) cancel.Cancel(); // DELETE arrived between the state change and _current
        var spec = job.Spec;
        LogJobStarted(id, spec.DataPath, spec.Options.Steps);
        try
        {
            var device = PipelineLoader.ResolveDevice(options.Value.Device);
            var data = ImageDatasets.Open(spec.DataPath, new PathRoots(options.Value.DataRoots)); // checked again: links may have changed since the request
            using var autoencoder = JobModels.CreateAutoencoder(model.Value, spec, device);
            var result = TrainingRun.Run(new TrainingRunRequest
            {
                Data = data,
                InitialModel = generator => JobModels.Create(spec, data, autoencoder.DownsampleFactor, autoencoder.LatentChannels, generator),
                ResumeFrom = TrainingRun.LatestCheckpoint(store.FolderOf(id)),
                Options = spec.Options,
                OutputDirectory = store.FolderOf(id),
                Autoencoder = autoencoder,
                AutoencoderId = JobModels.AutoencoderId(model.Value, spec),
                Device = device,
            }, p => Report(id, p), options.Value.YieldToServing ? WaitForServing : null, cancel.Token);
            var state = result.Outcome == TrainingOutcome.Completed ? JobState.Completed
                : stopping.IsCancellationRequested ? JobState.Interrupted : JobState.Cancelled;
            Finish(id, state, result.Checkpoint, error: state == JobState.Interrupted ? "The service stopped; POST resume continues from the checkpoint it saved." : null);
            LogJobEnded(id, state, result.Step);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested) // cancelled while encoding the data set
        {
            Finish(id, stopping.IsCancellationRequested ? JobState.Interrupted : JobState.Cancelled, null, null);
        }
        catch (Exception e)
        {
            LogJobFailed(e, id);
            Finish(id, JobState.Failed, null, Reason(e));
        }
        finally
        {
            lock (_lock) _current = null;
        }
    }

    void Finish(string id, JobState state, string? checkpoint, string? error) =>
        store.Update(id, j => j with
        {
            State = state, Phase = state.ToString().ToLowerInvariant(), FinishedAt = DateTimeOffset.UtcNow, EtaSeconds = null, Error = error,
            LatestCheckpoint = checkpoint ?? TrainingRun.LatestCheckpoint(store.FolderOf(id)) ?? j.LatestCheckpoint,
        });

    void Report(string id, TrainingProgress p) =>
        store.Update(id, j => p.Phase == "training"
            ? j with { Phase = p.Phase, Step = p.Step, TotalSteps = p.Total, Loss = p.Loss, StepsPerSecond = p.StepsPerSecond, EtaSeconds = p.Eta?.TotalSeconds, LatestCheckpoint = p.LatestCheckpoint ?? j.LatestCheckpoint }
            : j with { Phase = p.Phase }, progressOnly: true);

    /// <summary>Serving first: hold the next training step while any generation request is queued or running.</summary>
    void WaitForServing(CancellationToken cancel)
    {
        while (engine.Stats is { QueuedRequests: > 0 } or { RunningRequests: > 0 })
            if (cancel.WaitHandle.WaitOne(ServingPoll)) cancel.ThrowIfCancellationRequested();
    }

    /// <summary>What a failed job shows: the message of errors about its inputs, only the kind of anything else (details go to the log).</summary>
    static string Reason(Exception e) => e switch
    {
        DatasetException or InvalidDataException or ArgumentException or FileNotFoundException or CheckpointMismatchException or NotSupportedException => e.Message,
        OutOfMemoryException => "Out of memory: use a smaller batch size or model.",
        _ => $"Training failed unexpectedly ({e.GetType().Name}); see the service log.",
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Training job {Id} started on {Data} for {Steps} steps")]
    partial void LogJobStarted(string id, string data, int steps);

    [LoggerMessage(Level = LogLevel.Information, Message = "Training job {Id} ended {State} at step {Step}")]
    partial void LogJobEnded(string id, JobState state, long step);

    [LoggerMessage(Level = LogLevel.Error, Message = "Training job {Id} failed")]
    partial void LogJobFailed(Exception ex, string id);
}
