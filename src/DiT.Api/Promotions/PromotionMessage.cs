using System.Text.Json;

namespace DiT.Api.Promotions;

/// <summary>What the trainer publishes on the promotions channel: a checkpoint on shared storage, its fingerprint
/// (FileFingerprint of the file, checked by each receiver), the job it came from, and the publishing process.</summary>
public sealed record PromotionMessage(string Checkpoint, string Fingerprint, string JobId, string Origin)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The message <paramref name="json"/> holds, or null when it holds none (a channel is open to anyone).</summary>
    public static PromotionMessage? FromJson(string json)
    {
        try { return JsonSerializer.Deserialize<PromotionMessage>(json, Json); }
        catch (JsonException) { return null; }
    }
}
