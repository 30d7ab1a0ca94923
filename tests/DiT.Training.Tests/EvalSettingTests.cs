using DiT.Diffusion;
using DiT.Training.Evaluation;

namespace DiT.Training.Tests;

public class EvalSettingTests
{
    [Fact]
    public void ASettingNamesSamplerStepsGuidanceAndOptionallyClipAndAGuidanceInterval()
    {
        Assert.Equal(new EvalSetting(SamplerKind.DpmSolverPP2M, 20, 1.5), EvalSetting.Parse("dpm:20:1.5"));
        var both = EvalSetting.Parse("ddim:50:2:0.3-10:clip");
        Assert.Equal((SamplerKind.Ddim, 50, 2.0, true, 0.3, 10.0), (both.Sampler, both.Steps, both.Guidance, both.Clip, both.Interval!.Low, both.Interval.High));
        Assert.Equal("DDIM-50 cfg 2 in sigma [0.3, 10] clip", both.ToString());
    }

    [Theory]
    [InlineData("dpm:20")]
    [InlineData("euler:20:1.5")]
    [InlineData("dpm:20:1.5:10-0.3")]
    [InlineData("dpm:20:1.5:0.3")]
    [InlineData("dpm:20:1.5:clip:clip")]
    [InlineData("dpm:20:1.5:0.3-10:1-2")]
    public void AMalformedSettingFailsWithTheSyntax(string text) =>
        Assert.Contains("sampler:steps:guidance", Assert.Throws<ArgumentException>(() => EvalSetting.Parse(text)).Message);
}
