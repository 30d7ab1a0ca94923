using DiT.Model;

namespace DiT.Api.Promotions;

/// <summary>A checkpoint's weights, loaded and not yet served: <see cref="ModelPromoter.ServeAsync"/> hands the model to the
/// engine; whoever does not serve it disposes it.</summary>
public sealed record LoadedCheckpoint(DiTModel Model, string Checkpoint, string Fingerprint, long Step) : IDisposable
{
    public void Dispose() => Model.Dispose();
}
