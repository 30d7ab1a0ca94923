using DiT.Model;

namespace DiT.Serving.Engine;

/// <summary>Changing the served weights while the service runs (a promotion). Apart from <see cref="IImageGenerator"/>,
/// because only promotion swaps models: endpoints that ask for images cannot.</summary>
public interface IModelSwaps
{
    /// <summary>Serves <paramref name="model"/> from the next batch on (batches in flight finish on the old weights). The
    /// engine takes ownership of the model. It must keep the served input size, channels and classes, else the task fails
    /// with <see cref="ArgumentException"/> and the old model stays. <paramref name="fingerprint"/> names the weights in
    /// /model, headers and cache keys, so it must change whenever the weights do.</summary>
    Task SwapModelAsync(DiTModel model, string fingerprint, CancellationToken ct = default);
}
