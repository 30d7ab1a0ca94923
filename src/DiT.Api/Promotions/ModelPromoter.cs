using System.Diagnostics.CodeAnalysis;
using DiT.Model.Checkpoints;
using DiT.Model.IO;
using DiT.Serving.Engine;
using DiT.Serving.Startup;
using StackExchange.Redis;

namespace DiT.Api.Promotions;

/// <summary>
/// The one way a checkpoint becomes the served model after start-up, for POST /admin/jobs/{id}/promote and for promotions
/// arriving from the trainer: load it and take its fingerprint (<see cref="TryLoad"/>), swap it into the engine between
/// batches, record it (fine-tuning's init "served" starts from it) and, on the replica where it was promoted, publish it to
/// the others (<see cref="ServeAsync"/>).
/// </summary>
public sealed partial class ModelPromoter(IModelSwaps engine, ServedWeights served, PromotionChannel channel, PromotionFolder folder,
    ILogger<ModelPromoter> log)
{
    /// <summary>The weights of <paramref name="checkpoint"/>, or false with the reason (naming no path): the file cannot be
    /// read, is no DiT checkpoint, or is not <paramref name="expectedFingerprint"/> (when given: what was promoted).</summary>
    public bool TryLoad(string checkpoint, string? expectedFingerprint, [NotNullWhen(true)] out LoadedCheckpoint? loaded, out string error)
    {
        loaded = null;
        try
        {
            var fingerprint = PipelineLoader.FileFingerprint(checkpoint);
            if (expectedFingerprint is not null && fingerprint != expectedFingerprint)
            {
                error = $"it has fingerprint {fingerprint}, not {expectedFingerprint}";
                return false;
            }
            var model = DiTCheckpoint.Load(checkpoint); // the EMA weights of a training checkpoint
            try { loaded = new LoadedCheckpoint(model, checkpoint, fingerprint, TrainingStep(checkpoint)); }
            catch
            {
                model.Dispose();
                throw;
            }
            error = "";
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or CheckpointMismatchException)
        {
            error = ErrorText.WithoutPath(e, checkpoint);
            return false;
        }
    }

    /// <summary>Serves <paramref name="loaded"/> from the next batch on and records it; with <paramref name="publish"/> the
    /// other replicas follow (when a shared Redis is configured). Returns null, or why the engine refused the weights:
    /// then they are disposed and the served ones stay.</summary>
    public async Task<string?> ServeAsync(LoadedCheckpoint loaded, string jobId, bool publish, CancellationToken ct)
    {
        try { await engine.SwapModelAsync(loaded.Model, loaded.Fingerprint, ct); }
        catch (ArgumentException e)
        {
            loaded.Dispose();
            return e.Message;
        }
        var promotion = new ServedWeights.Promotion(loaded.Checkpoint, loaded.Fingerprint, jobId);
        served.Record(promotion);
        if (publish) await PublishAsync(promotion, ct);
        return null;
    }

    /// <summary>Copies the checkpoint to the shared folder and tells every replica. A failure is logged: this replica
    /// serves the promotion regardless.</summary>
    async Task PublishAsync(ServedWeights.Promotion promotion, CancellationToken ct)
    {
        if (!channel.IsEnabled) return;
        try
        {
            var shared = await Task.Run(() => folder.CopyIn(promotion), ct);
            var receivers = await channel.PublishAsync(new PromotionMessage(shared, promotion.Fingerprint, promotion.JobId, channel.Origin));
            LogPublished(promotion.JobId, promotion.Fingerprint, shared, receivers);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException or UnauthorizedAccessException)
        {
            LogPublishFailed(e, promotion.JobId);
        }
    }

    /// <summary>The training step a checkpoint was saved at (its "step" metadata), or 0.</summary>
    static long TrainingStep(string path) =>
        Safetensors.ReadHeader(path).Metadata.TryGetValue("step", out var step) && long.TryParse(step, out var s) ? s : 0;

    [LoggerMessage(Level = LogLevel.Information, Message = "Promotion of job {JobId} ({Fingerprint}, {Checkpoint}) published to {Receivers} subscribers, this replica included")]
    partial void LogPublished(string jobId, string fingerprint, string checkpoint, long receivers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Promotion of job {JobId} is served here but could not be published to the other replicas")]
    partial void LogPublishFailed(Exception e, string jobId);
}
