using DiT.Serving.Options;
using Microsoft.Extensions.Options;

namespace DiT.Api.Tests;

/// <summary>Names the engine parses (samplers, guidance modes) are checked at start with the message start-up prints.</summary>
public sealed class EngineOptionsValidationTests
{
    static IEnumerable<string> Failures(EngineOptions options) =>
        new DataAnnotationValidateOptions<EngineOptions>(null).Validate(null, options).Failures ?? [];

    [Fact]
    public void AnUnknownDefaultSamplerNamesTheSettingAndTheWireNames() =>
        Assert.Equal("DataAnnotation validation failed for 'EngineOptions' members: 'DefaultSampler' with the error: 'Engine:DefaultSampler must be ddpm, ddim or dpmpp-2m.'.",
            Assert.Single(Failures(new EngineOptions { DefaultSampler = "euler" })));

    [Fact]
    public void AnUnknownGuidanceModeNamesTheSettingAndTheWireNames() =>
        Assert.Equal("DataAnnotation validation failed for 'EngineOptions' members: 'GuidanceMode' with the error: 'Engine:GuidanceMode must be reference or all-channels.'.",
            Assert.Single(Failures(new EngineOptions { GuidanceMode = "some-channels" })));

    [Theory]
    [InlineData("DPMPP-2M", "Reference")]
    [InlineData("ddim", "ALL-CHANNELS")]
    public void WireNamesAreTakenInAnyCase(string sampler, string mode) =>
        Assert.Empty(Failures(new EngineOptions { DefaultSampler = sampler, GuidanceMode = mode }));
}
