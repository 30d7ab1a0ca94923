namespace DiT.Api.Promotions;

/// <summary>Which training checkpoint was promoted last, so a job with init "served" can start from the promoted weights.</summary>
public sealed class ServedWeights
{
    volatile Promotion? _last;

    public sealed record Promotion(string Checkpoint, string Fingerprint, string JobId);

    public Promotion? Last => _last;
    public void Record(Promotion promotion) => _last = promotion;
}
