using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Promotions;

/// <summary>Promotion fan-out across replicas (section "Promotions"): a promotion on the trainer replica is published on a
/// Redis channel and every serving replica swaps to the same weights. Off when no Redis is configured.</summary>
public sealed class PromotionOptions
{
    public const string Section = "Promotions";

    /// <summary>StackExchange.Redis configuration; empty uses Cache:RedisConnectionString; both empty: promotions stay on this replica.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Pub/sub channel; the latest promotion is also kept under "&lt;Channel&gt;:latest" for replicas that start later.</summary>
    [Required, MinLength(1)] public string Channel { get; set; } = "dit:promotions";

    /// <summary>Shared folder the trainer copies promoted checkpoints into (training keeps only a job's last few checkpoints);
    /// empty: "promoted" inside Training:JobsFolder. Every replica must see it at the same path.</summary>
    public string? Folder { get; set; }
}
