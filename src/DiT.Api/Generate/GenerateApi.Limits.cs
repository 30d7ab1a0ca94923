using DiT.Api.Problems;
using DiT.Diffusion;
using DiT.Model.StepCaching;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generate;

/// <summary>GET /generate/limits: what the playground builds its form from.</summary>
public static partial class GenerateApi
{
    /// <summary>MinNoiseLevel and MaxNoiseLevel: the schedule's sigma at t = 0 and at its last step, the span a guidance
    /// interval is drawn from; DefaultGuidanceInterval: [low, high] applied to guided requests that give none, or null.</summary>
    public sealed record GenerateLimits(int DefaultSteps, int MaxSteps, double DefaultGuidanceScale, double MaxGuidanceScale,
        bool SupportsGuidance, string DefaultSampler, IReadOnlyList<string> Samplers, long MaxSeed, double MinNoiseLevel, double MaxNoiseLevel,
        IReadOnlyList<double>? DefaultGuidanceInterval)
    {
        /// <summary>The step cache a request gets when it names none (Engine:DefaultCache).</summary>
        public string DefaultCache { get; init; } = "off";
    }

    static Results<Ok<GenerateLimits>, ProblemHttpResult> GetLimits(IImageGenerator engine, IOptions<EngineOptions> options)
    {
        if (engine.Model is not { } model) return ProblemResults.NotReady();
        var o = options.Value;
        return TypedResults.Ok(new GenerateLimits(o.DefaultSteps, o.MaxSteps,
            model.SupportsGuidance ? o.DefaultGuidanceScale : 1, model.SupportsGuidance ? o.MaxGuidanceScale : 1,
            model.SupportsGuidance, o.DefaultSampler.ToLowerInvariant(), [.. SamplerNames.ByName.Keys], GenerateValidator.MaxSeed,
            GenerateValidator.NoiseLevels[0], GenerateValidator.NoiseLevels[^1],
            model.SupportsGuidance && o.DefaultInterval is { } interval ? [interval.Low, interval.High] : null)
        { DefaultCache = StepCacheSettings.Parse(o.DefaultCache).ToString() });
    }
}
