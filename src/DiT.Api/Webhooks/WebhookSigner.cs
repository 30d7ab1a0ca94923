using System.Security.Cryptography;
using System.Text;

namespace DiT.Api.Webhooks;

/// <summary>Standard Webhooks signatures: <c>v1,</c> + base64 HMAC-SHA256 of <c>{webhook-id}.{webhook-timestamp}.{body}</c>.</summary>
public static class WebhookSigner
{
    public const string IdHeader = "webhook-id", TimestampHeader = "webhook-timestamp", SignatureHeader = "webhook-signature";

    public static string Sign(byte[] key, string id, long timestamp, string body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
}
