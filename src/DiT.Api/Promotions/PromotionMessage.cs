namespace DiT.Api.Promotions;

/// <summary>What the trainer publishes on the promotions channel: a checkpoint on shared storage, its fingerprint
/// (FileFingerprint of the file, checked by each receiver), the job it came from, and the publishing process.</summary>
public sealed record PromotionMessage(string Checkpoint, string Fingerprint, string JobId, string Origin);
