using System.Text.Json.Nodes;
using DiT.Testing;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>The golden harness itself: every case is run by some test, and no tolerance or value can make a comparison pass vacuously.</summary>
public sealed class GoldenManifestTests
{
    [Fact]
    public void EveryManifestCaseIsOfAKindSomeTestRuns()
    {
        var unknown = Golden.Default.Manifest["cases"]!.AsArray()
            .Where(c => !Golden.KnownKinds.ContainsKey(c!["kind"]!.GetValue<string>()))
            .Select(c => $"{c!["name"]} ({c["kind"]})").ToList();
        Assert.True(unknown.Count == 0, $"cases of kinds no test runs: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void EveryCheckedOutputOfTheManifestHasATolerancePassingTheCeiling()
    {
        foreach (var c in Golden.Default.Manifest["cases"]!.AsArray())
        {
            var golden = Golden.Default.Case(c!["name"]!.GetValue<string>());
            foreach (var output in golden.OutputNames.Where(o => golden.Output(o)["file"] is not null && golden.IsChecked(o)))
            {
                using var scope = NewDisposeScope();
                var expected = golden.Expected(output);
                golden.ToleranceOf(output).AssertClose(expected, expected, $"{golden.Name}.{output}");
            }
        }
    }

    [Fact]
    public void AskingForAKindNoTestIsRegisteredForFails() =>
        Assert.Throws<InvalidOperationException>(() => Golden.CaseNames("a_kind_nobody_runs"));

    [Fact]
    public void NaNOrInfinityOnEitherSideFails()
    {
        using var scope = NewDisposeScope();
        var tolerance = new Tolerance(Atol: 1e-3, Rtol: 1e-3);
        var expected = tensor(new[] { 1.0, 2.0, 3.0 });
        Assert.Throws<XunitException>(() => tolerance.AssertClose(tensor(new[] { 1.0, double.NaN, 3.0 }), expected, "nan"));
        Assert.Throws<XunitException>(() => tolerance.AssertClose(expected, tensor(new[] { 1.0, double.PositiveInfinity, 3.0 }), "inf"));
    }

    [Fact]
    public void ATolerancePastTheCeilingFailsEvenForEqualValues()
    {
        using var scope = NewDisposeScope();
        var values = tensor(new[] { 1.0, -2.0 });
        Assert.Throws<XunitException>(() => new Tolerance(Atol: 0, Rtol: 0.05).AssertClose(values, values, "rtol"));
        Assert.Throws<XunitException>(() => new Tolerance(Atol: 3.0, Rtol: 0).AssertClose(values, values, "atol"));
        Assert.Throws<XunitException>(() => new Tolerance(Atol: 1e-3, Rtol: 0, AtolPerChannel: [1e-3, 10.0]).AssertClose(values.reshape(1, 2), values.reshape(1, 2), "per channel"));
    }

    [Fact]
    public void TheStrictestOfScalarPerSampleAndPerChannelAtolApplies()
    {
        using var scope = NewDisposeScope();
        var expected = ones(2, 2, dtype: ScalarType.Float64);
        var actual = expected.clone();
        actual[1, 0] = tensor(1.01); // sample 1, channel 0
        var perSampleLoose = new Tolerance(Atol: 0.5, Rtol: 0, AtolPerSample: [0.5, 0.5], AtolPerChannel: [1e-3, 0.5]);
        var perChannelLoose = new Tolerance(Atol: 0.5, Rtol: 0, AtolPerSample: [0.5, 1e-3], AtolPerChannel: [0.5, 0.5]);
        var scalarStrict = new Tolerance(Atol: 1e-3, Rtol: 0, AtolPerSample: [0.5, 0.5]);

        Assert.Throws<XunitException>(() => perSampleLoose.AssertClose(actual, expected, "channel 0 strict"));
        Assert.Throws<XunitException>(() => perChannelLoose.AssertClose(actual, expected, "sample 1 strict"));
        Assert.Throws<XunitException>(() => scalarStrict.AssertClose(actual, expected, "scalar strict"));
        new Tolerance(Atol: 0.5, Rtol: 0, AtolPerSample: [0.5, 0.5], AtolPerChannel: [0.5, 0.5]).AssertClose(actual, expected, "all loose");
    }

    [Fact]
    public void AnExactOutputFailsOnAnyDifference()
    {
        using var scope = NewDisposeScope();
        var exact = Tolerance.From(JsonValue.Create("exact"));
        exact.AssertClose(tensor(new long[] { 999, 899 }), tensor(new long[] { 999, 899 }), "equal");
        Assert.Throws<XunitException>(() => exact.AssertClose(tensor(new long[] { 999, 900 }), tensor(new long[] { 999, 899 }), "off by one"));
    }
}
