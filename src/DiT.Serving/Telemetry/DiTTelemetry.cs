using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DiT.Serving.Telemetry;

/// <summary>The service's own ActivitySource and Meter; every span and instrument name lives here.</summary>
public sealed class DiTTelemetry
{
    public const string Name = "DiT.Api";

    /// <summary>Spans: dit.queue_wait, dit.batch, dit.decode, dit.encode (tag dit.format), dit.generation_job, dit.webhook.</summary>
    public static readonly ActivitySource Source = new(Name);

    public DiTTelemetry(IMeterFactory meters)
    {
        var meter = meters.Create(Name);
        Requests = meter.CreateCounter<long>("dit.requests", description: "Generate requests by outcome (ok, cached, invalid, rejected, cancelled).");
        Images = meter.CreateCounter<long>("dit.images.generated", description: "Images sampled by the engine.");
        BatchSize = meter.CreateHistogram<int>("dit.batch.size", description: "Most rows an image shared its steps with.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });
        QueueWait = meter.CreateHistogram<double>("dit.queue.wait", unit: "s", description: "Time from enqueue to batch start.");
        Latency = meter.CreateHistogram<double>("dit.generate.duration", unit: "s", description: "End-to-end generate latency, cache hits included.");
        CacheLookups = meter.CreateCounter<long>("dit.cache.lookups", description: "Image cache lookups by result (hit, miss, error).");
        ModelPasses = meter.CreateCounter<long>("dit.model.passes",
            description: "Model passes (one per step and guidance branch) of the generated images, by kind: full (the transformer ran) or cached (the step cache reused its work).");
        Generations = meter.CreateCounter<long>("dit.generations", description: "Generation jobs by how they ended (succeeded, failed, cancelled) or were refused (rejected).");
        WebhookDeliveries = meter.CreateCounter<long>("dit.webhook.deliveries", description: "Webhook attempts by outcome (delivered, retried, failed, refused, dropped).");
        RateLimited = meter.CreateCounter<long>("dit.rate_limited", description: "Requests answered 429 by the per-client rate limiter, by policy.");
        JobClaims = meter.CreateCounter<long>("dit.jobs.claims", description: "Shared jobs this replica took over from the queue's pending list (a replica lost, or a job handed back).");
        JobRetries = meter.CreateCounter<long>("dit.jobs.retries", description: "Shared jobs handed back to the queue after a failed run, to be tried again.");
        JobsDone = meter.CreateCounter<long>("dit.jobs.done", description: "Shared jobs this replica ended (tag replica), by status.");
        JobsDiscarded = meter.CreateCounter<long>("dit.jobs.discarded", description: "Late results of shared jobs another replica had taken over, discarded.");
        _meter = meter;
    }

    readonly Meter _meter;

    public Counter<long> Requests { get; }
    public Counter<long> Images { get; }
    public Histogram<int> BatchSize { get; }
    public Histogram<double> QueueWait { get; }
    public Histogram<double> Latency { get; }
    public Counter<long> CacheLookups { get; }
    public Counter<long> Generations { get; }
    public Counter<long> WebhookDeliveries { get; }
    public Counter<long> RateLimited { get; }
    public Counter<long> ModelPasses { get; }
    public Counter<long> JobClaims { get; }
    public Counter<long> JobRetries { get; }
    public Counter<long> JobsDone { get; }
    public Counter<long> JobsDiscarded { get; }

    /// <summary>dit.jobs.stream.length (jobs waiting or running in the whole service: the autoscaling signal) and
    /// dit.jobs.pending (jobs each replica has taken and not ended, tag consumer), as last read from Redis.</summary>
    public void ObserveSharedQueue(Func<long> length, Func<IEnumerable<Measurement<long>>> pending)
    {
        _meter.CreateObservableGauge("dit.jobs.stream.length", length, description: "Generation jobs waiting or running in the shared queue (all replicas).");
        _meter.CreateObservableGauge("dit.jobs.pending", pending, description: "Shared generation jobs taken by each replica and not yet ended.");
    }

    /// <summary>Adds one image's passes to dit.model.passes (kind = full, cached).</summary>
    public void CountModelPasses(DiT.Model.StepCaching.ModelPasses passes)
    {
        ModelPasses.Add(passes.Full, new KeyValuePair<string, object?>("kind", "full"));
        ModelPasses.Add(passes.Cached, new KeyValuePair<string, object?>("kind", "cached"));
    }

    /// <summary>dit.queue.depth: requests waiting for the engine, observed at scrape time.</summary>
    public void ObserveQueueDepth(Func<int> depth) =>
        _meter.CreateObservableGauge("dit.queue.depth", depth, description: "Requests waiting for the engine.");
}
