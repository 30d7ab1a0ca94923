using System.Diagnostics;
using System.Globalization;
using DiT.Api.Imaging;
using DiT.Api.Options;
using DiT.Diffusion;
using DiT.Serving.Engine;
using DiT.Serving.Telemetry;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;

namespace DiT.Api.Caching;

/// <summary>
/// The shared image store behind <see cref="LocalFirstImageCache"/>: IDistributedCache (Redis). Owns the key scheme. A
/// failing backend is bypassed for Cache:FailureBackoff so an absent Redis costs one timeout, not one per request, and
/// every call has its own deadline of Cache:RedisTimeoutMs: StackExchange.Redis notices its own timeouts only on a 1 s
/// heartbeat, so a 500 ms timeout used to cost the probing request about twice that.
/// </summary>
public sealed partial class DistributedImageCache(IDistributedCache cache, IOptions<CacheOptions> options,
    DiTTelemetry telemetry, ILogger<DistributedImageCache> log) : IImageCache
{
    readonly CacheOptions _options = options.Value;
    readonly TimeSpan _deadline = TimeSpan.FromMilliseconds(options.Value.RedisTimeoutMs);
    long _bypassUntil; // Stopwatch timestamp
    static readonly KeyValuePair<string, object?> Layer = new("layer", "redis");

    /// <summary>
    /// dit:png:v2:{fingerprint}:{device}:{dtype}:{guidance mode}:{sampler}:{steps}:{class}:{scale}:{seed}:{interval}[:cache={step cache}]:{format}[-q{quality}],
    /// interval "low-high" or "all" (v2: dpmpp-2m follows diffusers since then, so v1 entries hold other images; the format
    /// suffix came with the parameters inside the files, so entries written before it are never read).
    /// </summary>
    public static string KeyOf(ImageKey key) => RequestKeyOf(key) + ":" + key.Output;

    static string RequestKeyOf(ImageKey key)
    {
        var r = key.Request;
        var device = key.Device.Split(':')[0]; // cuda:0 and cuda:1 draw the same images
        var interval = r.GuidanceInterval is { } gi ? string.Create(CultureInfo.InvariantCulture, $"{gi.Low:R}-{gi.High:R}") : "all";
        return string.Create(CultureInfo.InvariantCulture,
            $"dit:png:v2:{key.ModelFingerprint}:{device}:{key.Dtype}:{GuidanceModeNames.NameOf(key.GuidanceMode)}:{SamplerInKeys(r.Sampler)}:{r.Steps}:{r.ClassId}:{r.GuidanceScale:R}:{r.Seed}:{interval}{StepCacheSuffix(r)}");
    }

    /// <summary>The sampler as keys spell it: not its wire name (dpmpp-2m) but the lower-cased name of the enum it had when
    /// the scheme was made (dpmpp2m), so the entries already stored keep being found.</summary>
    static string SamplerInKeys(SamplerKind sampler) => sampler switch
    {
        SamplerKind.Ddpm => "ddpm",
        SamplerKind.Ddim => "ddim",
        SamplerKind.DpmSolverPP2M => "dpmpp2m",
        _ => throw new ArgumentOutOfRangeException(nameof(sampler), sampler, "Unknown sampler."),
    };

    /// <summary>Step-cached images differ from uncached ones; uncached keys keep their old form, so entries stay valid.</summary>
    static string StepCacheSuffix(GenerationRequest r) => r.Cache.IsOff ? "" : $":cache={r.Cache}";

    public bool IsEnabled => _options.Enabled;

    public async Task<byte[]?> GetAsync(ImageKey key, CancellationToken ct)
    {
        if (!Usable()) return null;
        try
        {
            var png = await WithDeadline(cache.GetAsync(KeyOf(key), ct), ct);
            telemetry.CacheLookups.Add(1, new KeyValuePair<string, object?>("result", png is null ? "miss" : "hit"), Layer);
            return png;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            telemetry.CacheLookups.Add(1, new KeyValuePair<string, object?>("result", "error"), Layer);
            Bypass(ex);
            return null;
        }
    }

    public async Task SetAsync(ImageKey key, byte[] image, CancellationToken ct)
    {
        if (!Usable()) return;
        try
        {
            await WithDeadline(cache.SetAsync(KeyOf(key), image,
                new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = _options.EntryLifetime }, ct), ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Bypass(ex);
        }
    }

    /// <summary>The call, or a TimeoutException once the deadline has passed.</summary>
    Task<T> WithDeadline<T>(Task<T> call, CancellationToken ct) => Observed(call).WaitAsync(_deadline, ct);

    Task WithDeadline(Task call, CancellationToken ct) => Observed(call).WaitAsync(_deadline, ct);

    /// <summary>A call left behind by its deadline may fail later: observe that, so it is no unobserved task exception.</summary>
    static TTask Observed<TTask>(TTask call) where TTask : Task
    {
        call.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return call;
    }

    bool Usable() => _options.Enabled && Stopwatch.GetTimestamp() >= Interlocked.Read(ref _bypassUntil);

    void Bypass(Exception ex)
    {
        var until = Stopwatch.GetTimestamp() + (long)(_options.FailureBackoff.TotalSeconds * Stopwatch.Frequency);
        Interlocked.Exchange(ref _bypassUntil, until);
        LogCacheFailed(ex.GetType().Name, _options.FailureBackoff.TotalSeconds);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Image cache failed ({Error}); bypassing it for {Seconds} s")]
    partial void LogCacheFailed(string error, double seconds);
}
