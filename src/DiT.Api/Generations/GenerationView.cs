using DiT.Api.Webhooks;
using DiT.Diffusion;
using DiT.Serving.Engine;

namespace DiT.Api.Generations;

/// <summary>A generation job as GET /generations/{id} shows it (also the webhook's <c>data</c> and the event stream's payload).</summary>
/// <param name="Id">32 hex digits.</param>
/// <param name="Status">queued, running, succeeded, failed or cancelled.</param>
/// <param name="Request">The settings used, defaults applied and the seed chosen: image k is POST /generate with seed + k.</param>
/// <param name="Progress">Images and denoising steps done so far.</param>
/// <param name="Images">One entry per finished image, in index order (all n once the job has succeeded).</param>
/// <param name="Error">Why the job failed; null otherwise.</param>
/// <param name="Webhook">Delivery of the end-of-job webhook; null without one.</param>
/// <param name="CreatedAt">When it was submitted.</param>
/// <param name="StartedAt">When its images went to the engine; null while queued.</param>
/// <param name="FinishedAt">When it ended; null before.</param>
/// <param name="ExpiresAt">When the job and its images are deleted (Generations:Retention after the end).</param>
/// <param name="Links">Where to read, follow and cancel the job.</param>
public sealed record GenerationView(string Id, string Status, GenerationRequestView Request, GenerationProgressView Progress, IReadOnlyList<GenerationImageView> Images,
    GenerationError? Error, GenerationWebhookView? Webhook, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt,
    DateTimeOffset? ExpiresAt, GenerationLinks Links)
{
    public static GenerationView Of(JobSnapshot job)
    {
        var spec = job.Spec;
        var r = spec.Request;
        return new GenerationView(job.Id, job.Status.ToString().ToLowerInvariant(),
            new GenerationRequestView(r.ClassId, spec.ClassName, r.GuidanceScale,
                r.GuidanceInterval is { } gi ? [gi.Low, gi.High] : [], r.Steps, SamplerNames.NameOf(r.Sampler), r.Cache.ToString(), r.Seed,
                spec.Count, spec.Output.Name, spec.Output.Quality),
            new GenerationProgressView(job.Images.Count, spec.Count, job.StepsDone, spec.TotalSteps),
            [.. job.Images.Select(i => new GenerationImageView(i.Index, i.Seed, GenerationsApi.ImageUrl(job.Id, i.Index), i.Width,
                i.Height, i.ContentType, i.Length, i.CacheHit))],
            job.Error,
            spec.Webhook is null ? null : GenerationWebhookView.Of(spec.Webhook, job.Webhook),
            job.CreatedAt, job.StartedAt, job.FinishedAt, job.ExpiresAt,
            new GenerationLinks(GenerationsApi.JobUrl(job.Id), GenerationsApi.JobUrl(job.Id) + "/events"));
    }
}

/// <param name="ClassId">The class, 0..NumClasses-1.</param>
/// <param name="ClassName">Its display name.</param>
/// <param name="GuidanceScale">Classifier-free guidance scale (1 = off).</param>
/// <param name="GuidanceInterval">[low, high] noise levels where guidance applies; [] at every step.</param>
/// <param name="Steps">Denoising steps per image.</param>
/// <param name="Sampler">ddpm, ddim or dpmpp-2m.</param>
/// <param name="Cache">The step cache, as the cache field takes it (off, fora:N, taylor:N, teacache:T).</param>
/// <param name="Seed">Seed of image 0 (given, or chosen once for the job).</param>
/// <param name="N">Images in the job.</param>
/// <param name="Format">png, jpeg or webp.</param>
/// <param name="Quality">jpeg and webp: 1..100; null for png.</param>
public sealed record GenerationRequestView(int ClassId, string ClassName, double GuidanceScale, double[] GuidanceInterval, int Steps,
    string Sampler, string Cache, long Seed, int N, string Format, int? Quality);

/// <param name="ImagesDone">Finished images.</param>
/// <param name="Images">n.</param>
/// <param name="StepsDone">Denoising steps done over all images (a cached image counts as all its steps).</param>
/// <param name="TotalSteps">n x steps.</param>
public sealed record GenerationProgressView(int ImagesDone, int Images, int StepsDone, int TotalSteps);

/// <param name="Index">k, 0..n-1.</param>
/// <param name="Seed">The job's seed + k: POST /generate with it makes the same file.</param>
/// <param name="Url">GET it for the image in the job's format.</param>
/// <param name="Width">Pixels.</param>
/// <param name="Height">Pixels.</param>
/// <param name="ContentType">image/png, image/jpeg or image/webp.</param>
/// <param name="Bytes">File size.</param>
/// <param name="CacheHit">True when the image came from the cache (only seeded jobs are cached).</param>
public sealed record GenerationImageView(int Index, long Seed, string Url, int Width, int Height, string ContentType, int Bytes, bool CacheHit);

/// <param name="Url">The webhook target.</param>
/// <param name="Status">pending (waiting, or between attempts), delivered, or failed (attempts used up or target refused).</param>
/// <param name="Attempts">Attempts made so far.</param>
/// <param name="LastStatusCode">HTTP status of the last answer; null when it failed before one.</param>
/// <param name="LastError">What went wrong on the last failed attempt.</param>
public sealed record GenerationWebhookView(string Url, string Status, int Attempts, int? LastStatusCode, string? LastError)
{
    public static GenerationWebhookView Of(Uri target, WebhookState? state) =>
        new(target.ToString(), state?.Status ?? WebhookState.Pending, state?.Attempts ?? 0, state?.LastStatusCode, state?.LastError);
}

/// <param name="Self">GET for the state, DELETE to cancel.</param>
/// <param name="Events">Server-sent events: progress, each image, the end.</param>
public sealed record GenerationLinks(string Self, string Events);
