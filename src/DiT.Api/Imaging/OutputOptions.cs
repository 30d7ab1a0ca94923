using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Imaging;

/// <summary>Image output defaults (section "Output").</summary>
public sealed class OutputOptions
{
    public const string Section = "Output";

    /// <summary>Quality of jpeg and webp images when a request names none.</summary>
    [Range(1, 100)] public int DefaultQuality { get; set; } = 90;
}
