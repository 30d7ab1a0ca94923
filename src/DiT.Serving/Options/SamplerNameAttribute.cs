using System.ComponentModel.DataAnnotations;
using DiT.Diffusion;

namespace DiT.Serving.Options;

/// <summary>The value must be a sampler's wire name (<see cref="SamplerNames"/>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SamplerNameAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is null || (value is string text && SamplerNames.ByName.ContainsKey(text))
            ? ValidationResult.Success
            : new ValidationResult($"Engine:{validationContext.MemberName} must be {WireNames.OneOf(SamplerNames.ByName.Keys)}.",
                [validationContext.MemberName!]); // named, as the regular expression it replaces named it in start-up errors
}
