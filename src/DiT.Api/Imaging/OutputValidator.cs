namespace DiT.Api.Imaging;

/// <summary>Turns the <c>format</c> and <c>quality</c> fields into an <see cref="OutputFormat"/>, or into errors keyed by the field.</summary>
public static class OutputValidator
{
    public static OutputFormat? Validate(string? format, int? quality, OutputOptions options, IDictionary<string, string[]> errors)
    {
        var name = format?.Trim() ?? "png";
        if (!OutputFormat.ByName.TryGetValue(name, out var kind))
        {
            errors["format"] = [$"Unknown format '{(name.Length <= 16 ? name : name[..16] + "…")}': allowed {OutputFormat.Allowed}."];
            return null;
        }
        if (kind is ImageFormat.Png)
        {
            if (quality is null) return OutputFormat.Png;
            errors["quality"] = ["quality applies to jpeg and webp only: png is lossless (leave quality out)."];
            return null;
        }
        if (quality is < 1 or > 100)
        {
            errors["quality"] = ["quality must be between 1 and 100."];
            return null;
        }
        return new OutputFormat(kind, quality ?? options.DefaultQuality);
    }
}
