using DiT.Api.Generate;
using DiT.Api.Imaging;
using DiT.Serving.Engine;

namespace DiT.Api.Generations;

/// <summary>Body of POST /generations: what POST /generate takes, plus how many images and where to report the end.
/// Image k uses seed + k, so each can be made again alone with POST /generate.</summary>
public sealed record GenerationsBody : GenerateBody
{
    /// <summary>Images to make, 1..Generations:MaxImages (default 1); image k has seed + k.</summary>
    /// <example>4</example>
    public int? N { get; init; }

    /// <summary>http(s) URL POSTed once when the job ends, signed Standard-Webhooks style (see docs/api.md). Needs Webhooks:Secret.</summary>
    /// <example>https://hooks.example.com/dit</example>
    public string? Webhook { get; init; }
}

/// <summary>A validated job: the request of image 0 (image k adds k to the seed), how many, how they are written, and where the webhook goes.</summary>
public sealed record GenerationSpec(GenerationRequest Request, string ClassName, int Count, OutputFormat Output, bool SeedGiven, Uri? Webhook)
{
    public GenerationRequest RequestFor(int k) => Request with { Seed = Request.Seed + k };

    public int TotalSteps => Count * Request.Steps;
}
