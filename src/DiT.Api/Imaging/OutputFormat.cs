namespace DiT.Api.Imaging;

/// <summary>Image file formats the service writes.</summary>
public enum ImageFormat { Png, Jpeg, Webp }

/// <summary>How an image is written: the format and, for the lossy ones (jpeg, webp), the quality 1..100.</summary>
public sealed record OutputFormat(ImageFormat Format, int? Quality)
{
    public static readonly OutputFormat Png = new(ImageFormat.Png, null);

    public string Name => Format.ToString().ToLowerInvariant();

    public string ContentType => "image/" + Name;

    public bool IsLossy => Format is not ImageFormat.Png;

    /// <summary>Wire names, shared by validation and docs.</summary>
    public static readonly IReadOnlyDictionary<string, ImageFormat> ByName = new Dictionary<string, ImageFormat>(StringComparer.OrdinalIgnoreCase)
    {
        ["png"] = ImageFormat.Png,
        ["jpeg"] = ImageFormat.Jpeg,
        ["webp"] = ImageFormat.Webp,
    };

    public static string Allowed => string.Join(", ", ByName.Keys);

    public override string ToString() => Quality is { } q ? $"{Name}-q{q}" : Name;
}
