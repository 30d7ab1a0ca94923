namespace DiT.Api.Generate;

/// <summary>Body of POST /generate (and the base of POST /generations). Only the class is required (by id or by name, not both).</summary>
public record GenerateBody
{
    /// <summary>Class id, 0..NumClasses-1 (see GET /classes).</summary>
    /// <example>207</example>
    public int? ClassId { get; init; }

    /// <summary>Class name or any of its synonyms, case-insensitive (see GET /classes); instead of classId.</summary>
    /// <example>golden retriever</example>
    public string? ClassName { get; init; }

    /// <summary>Classifier-free guidance scale; 1 turns guidance off. Default from Engine:DefaultGuidanceScale.</summary>
    /// <example>4.0</example>
    public double? GuidanceScale { get; init; }

    /// <summary>
    /// Guidance interval [low, high] in noise level sigma = sqrt((1 - alpha_bar) / alpha_bar) (Kynkäänniemi et al. 2024):
    /// guidance only at steps whose sigma lies inside, the unconditional pass skipped elsewhere. Needs guidanceScale &gt; 1.
    /// The 1000-step linear schedule spans sigma 0.01 (t = 0) to 157 (t = 999). [] guides at every step; absent: the
    /// default interval (Engine:DefaultGuidanceInterval) when the request is guided.
    /// </summary>
    /// <example>[0.3, 10]</example>
    public double[]? GuidanceInterval { get; init; }

    /// <summary>Sampling steps (the 1000-step schedule is respaced). Default from Engine:DefaultSteps.</summary>
    /// <example>50</example>
    public int? Steps { get; init; }

    /// <summary>ddpm, ddim or dpmpp-2m. Default from Engine:DefaultSampler.</summary>
    /// <example>ddim</example>
    public string? Sampler { get; init; }

    /// <summary>Seed for the noise (0..2^53-1); the same seed and settings give the same image. Drawn at random when absent.</summary>
    /// <example>42</example>
    public long? Seed { get; init; }

    /// <summary>Reuse of the transformer's work across steps: off, fora:N or taylor:N (run the blocks every N-th step,
    /// N = 1..20), teacache:T (skip while the accumulated relative change stays below T, 0..2). Default from
    /// Engine:DefaultCache. Fewer full passes, slightly different image (docs/quality.md).</summary>
    /// <example>fora:2</example>
    public string? Cache { get; init; }

    /// <summary>File format: png (default), jpeg or webp. Every format carries the parameters inside (PNG text chunks; EXIF and XMP).</summary>
    /// <example>png</example>
    public string? Format { get; init; }

    /// <summary>jpeg and webp only: quality 1..100 (default from Output:DefaultQuality).</summary>
    /// <example>90</example>
    public int? Quality { get; init; }
}
