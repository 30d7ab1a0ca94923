using DiT.Api.Generate;
using DiT.Api.Imaging;
using DiT.Api.Webhooks;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;

namespace DiT.Api.Generations;

/// <summary>Turns a POST /generations body into a <see cref="GenerationSpec"/>, or into errors keyed by the JSON field:
/// the /generate rules, plus n, format/quality and webhook.</summary>
public sealed class GenerationsValidator(IOptions<GenerationsOptions> options, IOptions<EngineOptions> engineOptions,
    IOptions<OutputOptions> outputOptions, WebhookTargets webhooks)
{
    public GenerationSpec? Validate(GenerationsBody body, ServedModel model, IDictionary<string, string[]> errors)
    {
        int max = options.Value.MaxImages;
        int n = body.N ?? 1;
        if (n < 1 || n > max) errors["n"] = [$"n must be between 1 and {max}."];
        n = Math.Clamp(n, 1, max);
        // Chosen once per job (and shown in the job), low enough that seed + k is a valid seed for every image.
        var seeded = body.Seed is null ? body with { Seed = Random.Shared.NextInt64(0, GenerateValidator.MaxSeed - n + 2) } : body;
        var request = GenerateValidator.Validate(seeded, model, engineOptions.Value, errors);
        if (request is not null && request.Seed > GenerateValidator.MaxSeed - (n - 1))
        {
            errors["seed"] = [$"seed must be at most {GenerateValidator.MaxSeed - (n - 1)} for n = {n}: image k uses seed + k (at most {GenerateValidator.MaxSeed})."];
            request = null;
        }
        var output = OutputValidator.Validate(body.Format, body.Quality, outputOptions.Value, errors);
        var webhook = body.Webhook is null ? null : webhooks.Validate(body.Webhook, errors);
        if (request is null || output is null || errors.Count > 0) return null;
        return new GenerationSpec(request, model.Classes.Entries[request.ClassId].Names[0], n, output, body.Seed is not null, webhook);
    }
}
