using System.ComponentModel.DataAnnotations;
using DiT.Diffusion;

namespace DiT.Serving.Options;

/// <summary>An Engine setting whose value must be one of a list of wire names.</summary>
[AttributeUsage(AttributeTargets.Property)]
public abstract class WireNameAttribute(IReadOnlyCollection<string> names) : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is null || (value is string text && names.Contains(text, StringComparer.OrdinalIgnoreCase)) // as the name lists compare
            ? ValidationResult.Success
            : new ValidationResult($"Engine:{validationContext.MemberName} must be {WireNames.OneOf(names)}.",
                [validationContext.MemberName!]); // named, as the regular expression it replaces named it in start-up errors
}

/// <summary>The value must be a sampler's wire name (<see cref="SamplerNames"/>).</summary>
public sealed class SamplerNameAttribute() : WireNameAttribute(SamplerNames.ByName.Keys.ToArray());

/// <summary>The value must be a guidance mode's wire name (<see cref="GuidanceModeNames"/>).</summary>
public sealed class GuidanceModeNameAttribute() : WireNameAttribute(GuidanceModeNames.ByName.Keys.ToArray());
