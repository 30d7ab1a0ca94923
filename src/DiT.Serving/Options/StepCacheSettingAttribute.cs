using System.ComponentModel.DataAnnotations;
using DiT.Model.StepCaching;

namespace DiT.Serving.Options;

/// <summary>The value must be a step cache setting in its wire form (off, fora:N, taylor:N, teacache:T).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class StepCacheSettingAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is null || (value is string text && StepCacheSettings.TryParse(text, out _))
            ? ValidationResult.Success
            : new ValidationResult($"Engine:{validationContext.MemberName} must be one of: {StepCacheSettings.Allowed}.");
}
