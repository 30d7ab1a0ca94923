using DiT.Diffusion;
using DiT.Model.StepCaching;
using DiT.Serving.Engine;
using DiT.Serving.Options;

namespace DiT.Api.Generate;

/// <summary>Turns a body into a complete <see cref="GenerationRequest"/>, or into errors keyed by the JSON field.</summary>
public static class GenerateValidator
{
    public const long MaxSeed = (1L << 53) - 1; // exact in JSON doubles, so clients in any language can echo it

    /// <summary>sigma per timestep of the served schedule (DiT's 1000 linear steps), for the limits in messages.</summary>
    public static readonly IReadOnlyList<double> NoiseLevels = GuidanceInterval.NoiseLevels(new DiffusionOptions());

    public static GenerationRequest? Validate(GenerateBody body, ServedModel model, EngineOptions options, IDictionary<string, string[]> errors)
    {
        int classes = model.Classes.Count;
        int? classId = null;
        if (body.ClassId is not null && body.ClassName is not null)
        {
            errors["classId"] = ["Give classId or className, not both."];
            errors["className"] = ["Give classId or className, not both."];
        }
        else if (body.ClassId is { } id)
        {
            if (id >= 0 && id < classes) classId = id;
            else errors["classId"] = [$"Unknown class id {id}: allowed 0..{classes - 1} (names at GET /classes)."];
        }
        else if (body.ClassName is { } name)
        {
            if (model.Classes.TryResolve(name, out var found)) classId = found;
            else errors["className"] = [$"Unknown class name '{Shorten(name)}': use a name or synonym listed by GET /classes ({classes} classes, e.g. '{model.Classes.Entries[0].Names[0]}')."];
        }
        else errors["classId"] = [$"Required: give classId (0..{classes - 1}) or className (see GET /classes)."];

        double guidance = body.GuidanceScale ?? (model.SupportsGuidance ? options.DefaultGuidanceScale : 1);
        double maxGuidance = model.SupportsGuidance ? options.MaxGuidanceScale : 1;
        if (!double.IsFinite(guidance) || guidance < 1 || guidance > maxGuidance)
            errors["guidanceScale"] = [model.SupportsGuidance
                ? $"guidanceScale must be between 1 (no guidance) and {maxGuidance}."
                : "guidanceScale must be 1: the served model was trained without a null class, so it cannot be guided."];

        GuidanceInterval? interval = null;
        if (body.GuidanceInterval is []) { }                                     // explicitly: guidance at every step
        else if (body.GuidanceInterval is { } bounds)
        {
            if (bounds.Length != 2 || !GuidanceInterval.IsValid(bounds[0], bounds[1]))
                errors["guidanceInterval"] = [$"guidanceInterval must be {GuidanceInterval.Rule}; the schedule spans sigma "
                    + $"{NoiseLevels[0]:0.##} (t = 0) to {NoiseLevels[^1]:0.#} (t = {NoiseLevels.Count - 1}); [] guides at every step."];
            else if (guidance == 1)
                errors["guidanceInterval"] = ["guidanceInterval needs guidanceScale > 1: without guidance there is no interval to limit it to."];
            else interval = new GuidanceInterval(bounds[0], bounds[1]);
        }
        else if (guidance > 1) interval = options.DefaultInterval;

        var samplerName = body.Sampler ?? options.DefaultSampler;
        if (!SamplerNames.ByName.TryGetValue(samplerName.Trim(), out var sampler))
            errors["sampler"] = [$"Unknown sampler '{Shorten(samplerName)}': allowed {SamplerNames.Allowed}."];

        // DPM-Solver++ uses diffusers' linspace timesteps, which never include 0: at most one step per timestep 1..999.
        int maxSteps = sampler == SamplerKind.DpmSolverPP2M ? Math.Min(options.MaxSteps, NoiseLevels.Count - 1) : options.MaxSteps;
        int steps = body.Steps ?? options.DefaultSteps;
        if (steps < 1 || steps > maxSteps)
            errors["steps"] = [$"steps must be between 1 and {maxSteps}" + (maxSteps < options.MaxSteps ? $" for {SamplerNames.NameOf(sampler)}." : ".")];

        long seed = body.Seed ?? Random.Shared.NextInt64(0, MaxSeed + 1);
        if (seed < 0 || seed > MaxSeed)
            errors["seed"] = [$"seed must be between 0 and {MaxSeed}."];

        var cacheText = body.Cache ?? options.DefaultCache;
        if (!StepCacheSettings.TryParse(cacheText, out var cache))
            errors["cache"] = [$"Unknown cache '{Shorten(cacheText)}': allowed {StepCacheSettings.Allowed}."];

        return errors.Count == 0 ? new GenerationRequest(classId!.Value, guidance, steps, sampler, seed, interval) { Cache = cache } : null;
    }

    static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
