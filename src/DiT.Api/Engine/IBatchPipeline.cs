namespace DiT.Api.Engine;

/// <summary>The tensor side of the engine. Created, used and disposed on the engine thread only.</summary>
public interface IBatchPipeline : IDisposable
{
    ServedModel Model { get; }

    /// <summary>Samples and decodes one batch of compatible requests (same sampler and steps), one image per request, in order.</summary>
    IReadOnlyList<RawImage> Run(IReadOnlyList<GenerationRequest> batch, CancellationToken ct, Action<int, int>? onStep);
}

/// <summary>Loads the pipeline named by the options; runs on the engine thread.</summary>
public interface IPipelineLoader
{
    IBatchPipeline Load();
}

/// <summary>8-bit pixels, row-major HWC; Channels is 1 (grey) or 3 (RGB).</summary>
public sealed record RawImage(byte[] Pixels, int Width, int Height, int Channels);
