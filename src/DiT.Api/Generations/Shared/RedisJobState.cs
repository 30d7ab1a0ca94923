using System.Globalization;
using System.Text.Json;
using DiT.Api.Webhooks;
using DiT.Serving.Engine;
using StackExchange.Redis;

namespace DiT.Api.Generations.Shared;

/// <summary>
/// A job's Redis hash, field by field, and the snapshot it reads as. The spec is kept as the submitted body with its
/// seed filled in (and validated again when read), so any replica rebuilds exactly the job that was submitted.
/// </summary>
static class RedisJobState
{
    public static HashEntry[] New(string id, GenerationSpec spec, string body, string? key, DateTimeOffset now)
    {
        var fields = new List<HashEntry>
        {
            new("status", "queued"), new("version", 1), new("n", spec.Count), new("body", body),
            new("spec", SpecBody(body, spec)), new("seedGiven", spec.SeedGiven ? 1 : 0), new("createdAt", Time(now)),
            new("attempt", 0), new("failures", 0), new("owner", ""),
        };
        if (spec.Webhook is { } hook) fields.Add(new("hook", hook.ToString()));
        if (key is not null) fields.Add(new("key", key));
        return [.. fields];
    }

    /// <summary>The body as submitted, with the seed the job uses (chosen at submit when absent) and no webhook (kept apart).</summary>
    static string SpecBody(string body, GenerationSpec spec)
    {
        var submitted = JsonSerializer.Deserialize<GenerationsBody>(body, JsonSerializerOptions.Web)!;
        return JsonSerializer.Serialize(submitted with { Seed = spec.Request.Seed, Webhook = null }, JsonSerializerOptions.Web);
    }

    /// <summary>The job the hash holds; null when there is none (expired). Throws when the served model cannot rebuild it.</summary>
    public static JobSnapshot? Read(string id, HashEntry[] hash, GenerationsValidator validator, ServedModel model, TimeSpan retention)
    {
        if (hash.Length == 0) return null;
        var f = hash.ToDictionary(e => e.Name.ToString(), e => e.Value, StringComparer.Ordinal);
        var spec = Spec(f, validator, model);
        var steps = ((string?)f.GetValueOrDefault("steps") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Sum(s => int.Parse(s, CultureInfo.InvariantCulture));
        var images = Enumerable.Range(0, spec.Count)
            .Select(k => f.TryGetValue($"img:{k}", out var meta) ? JsonSerializer.Deserialize<JobImage>(meta.ToString(), JsonSerializerOptions.Web) : null)
            .OfType<JobImage>().ToList();
        var finished = OptionalTime(f, "finishedAt");
        return new JobSnapshot(id, (long)f["version"], Status(f["status"].ToString()), spec, steps, images,
            Json<GenerationError>(f, "error"), Json<WebhookState>(f, "webhook"),
            OptionalTime(f, "createdAt")!.Value, OptionalTime(f, "startedAt"), finished, finished + retention);
    }

    static GenerationSpec Spec(Dictionary<string, RedisValue> f, GenerationsValidator validator, ServedModel model)
    {
        var body = JsonSerializer.Deserialize<GenerationsBody>(f["spec"].ToString(), JsonSerializerOptions.Web)!;
        var errors = new Dictionary<string, string[]>();
        var spec = validator.Validate(body, model, errors)
            ?? throw new JobStoreUnavailableException($"A stored job no longer validates against the served model: {string.Join("; ", errors.SelectMany(e => e.Value))}");
        return spec with
        {
            SeedGiven = (int)f["seedGiven"] == 1,
            Webhook = f.TryGetValue("hook", out var hook) ? new Uri(hook.ToString()) : null,
        };
    }

    public static string Steps(int[] steps) => string.Join(',', steps);

    public static string Time(DateTimeOffset t) => t.ToString("O", CultureInfo.InvariantCulture);

    static DateTimeOffset? OptionalTime(Dictionary<string, RedisValue> f, string name) =>
        f.TryGetValue(name, out var v) && v.HasValue && !v.IsNullOrEmpty ? DateTimeOffset.Parse(v.ToString(), CultureInfo.InvariantCulture) : null;

    static T? Json<T>(Dictionary<string, RedisValue> f, string name) where T : class =>
        f.TryGetValue(name, out var v) && !v.IsNullOrEmpty ? JsonSerializer.Deserialize<T>(v.ToString(), JsonSerializerOptions.Web) : null;

    static JobStatus Status(string status) => Enum.Parse<JobStatus>(status, ignoreCase: true);
}
