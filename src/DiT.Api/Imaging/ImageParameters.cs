using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiT.Diffusion;
using DiT.Serving.Engine;

namespace DiT.Api.Imaging;

/// <summary>
/// Everything needed to make an image again, written into the image file: the A1111 <c>parameters</c> text
/// (prompt line = class name, then <c>Key: value, ...</c>) that image tools already read, and the same settings as JSON.
/// </summary>
public sealed class ImageParameters
{
    /// <summary>PNG text keywords: A1111's, and ours for the JSON.</summary>
    public const string TextKeyword = "parameters", JsonKeyword = "dit";

    // GenerationRequest properties written under their own labels; any other (settings added later) is written generically.
    static readonly HashSet<string> Described = [nameof(GenerationRequest.ClassId), nameof(GenerationRequest.GuidanceScale),
        nameof(GenerationRequest.Steps), nameof(GenerationRequest.Sampler), nameof(GenerationRequest.Seed), nameof(GenerationRequest.BatchKey),
        nameof(GenerationRequest.GuidanceInterval), nameof(GenerationRequest.Cache)];

    ImageParameters(string text, string json) => (Text, Json) = (text, json);

    /// <summary>A1111 style: the class name, then one line of <c>Key: value</c> pairs.</summary>
    public string Text { get; }

    /// <summary>The same settings as one JSON object (camelCase, the request fields spelled as POST /generate takes them).</summary>
    public string Json { get; }

    public static ImageParameters Of(GenerationRequest request, ServedModel model, string fingerprint, GuidanceMode guidanceMode)
    {
        var className = model.Classes.Entries[request.ClassId].Names[0];
        var sampler = SamplerNames.NameOf(request.Sampler);
        var device = model.Device.Split(':')[0];
        var mode = GuidanceModeNames.NameOf(guidanceMode);
        var json = new JsonObject
        {
            ["classId"] = request.ClassId,
            ["className"] = className,
            ["seed"] = request.Seed,
            ["sampler"] = sampler,
            ["steps"] = request.Steps,
            ["guidanceScale"] = request.GuidanceScale,
            ["model"] = model.Name,
            ["modelFingerprint"] = fingerprint,
            ["guidanceMode"] = mode,
            ["width"] = model.ImageWidth,
            ["height"] = model.ImageHeight,
            ["device"] = device,
            ["dtype"] = model.Dtype,
            // As POST /generate takes them, so the JSON can be sent again as it is.
            ["guidanceInterval"] = request.GuidanceInterval is { } gi ? new JsonArray(gi.Low, gi.High) : new JsonArray(),
            ["cache"] = request.Cache.ToString(),
        };
        var pairs = new List<(string, string)>
        {
            ("Steps", Invariant(request.Steps)), ("Sampler", sampler), ("CFG scale", Invariant(request.GuidanceScale)),
            ("Seed", Invariant(request.Seed)), ("Size", $"{model.ImageWidth}x{model.ImageHeight}"), ("Model hash", fingerprint),
            ("Model", model.Name), ("Class id", Invariant(request.ClassId)), ("Guidance mode", mode), ("Device", device), ("Dtype", model.Dtype),
            ("Guidance interval", request.GuidanceInterval is { } interval ? Invariant(interval.Low) + "-" + Invariant(interval.High) : "all steps"),
            ("Step cache", request.Cache.ToString()),
        };
        foreach (var property in typeof(GenerationRequest).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (Described.Contains(property.Name) || property.GetValue(request) is not { } value) continue;
            var name = JsonNamingPolicy.CamelCase.ConvertName(property.Name);
            json[name] = JsonSerializer.SerializeToNode(value, JsonSerializerOptions.Web);
            pairs.Add((name, Invariant(value)));
        }
        var text = className + "\n" + string.Join(", ", pairs.Select(p => $"{p.Item1}: {Quote(p.Item2)}"));
        return new ImageParameters(text, json.ToJsonString());
    }

    static string Invariant(object value) => value is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : value.ToString() ?? "";

    /// <summary>A1111 quotes a value that would break its <c>Key: value, ...</c> line as a JSON string.</summary>
    static string Quote(string value) => value.IndexOfAny([',', ':', '"', '\n']) < 0 ? value : JsonSerializer.Serialize(value);
}
