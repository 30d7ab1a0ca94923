using System.Text.Json.Nodes;
using Xunit;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace DiT.Testing;

/// <summary>
/// |actual - expected| &lt;= atol + rtol*|expected|, elementwise; atol may also vary along dim 0 (samples) or dim 1
/// (channels), and where several are given the smallest applies. <see cref="Exact"/> outputs must be equal.
/// A tolerance so loose that it would pass anything fails instead, and so does any NaN or infinity.
/// </summary>
public sealed record Tolerance(double Atol, double Rtol, double[]? AtolPerSample = null, double[]? AtolPerChannel = null, bool Exact = false)
{
    /// <summary>The loosest relative tolerance the harness accepts (the manifest's loosest is 1e-3).</summary>
    public const double MaxRtol = 1e-2;

    /// <summary>The manifest's tolerance node: {atol, rtol, atol_per_sample?, atol_per_channel?}, or "exact".</summary>
    public static Tolerance From(JsonNode node) => node is JsonValue value && value.GetValue<string>() == "exact"
        ? new Tolerance(0, 0, Exact: true)
        : new Tolerance(
            node["atol"]!.GetValue<double>(),
            node["rtol"]?.GetValue<double>() ?? 0,
            node["atol_per_sample"]?.AsArray().Select(v => v!.GetValue<double>()).ToArray(),
            node["atol_per_channel"]?.AsArray().Select(v => v!.GetValue<double>()).ToArray());

    /// <summary>Fails with the worst element, its index and the bound when any element is outside the tolerance.</summary>
    public void AssertClose(Tensor actual, Tensor expected, string what)
    {
        using var scope = NewDisposeScope();
        if (!actual.shape.SequenceEqual(expected.shape))
            throw new XunitException($"{what}: shape [{string.Join(", ", actual.shape)}] != expected [{string.Join(", ", expected.shape)}].");
        var a = actual.detach().cpu().to(ScalarType.Float64);
        var e = expected.detach().cpu().to(ScalarType.Float64);
        AssertFinite(e, what, "expected");
        AssertFinite(a, what, "actual");
        var err = (a - e).abs();
        if (Exact)
        {
            if (err.max().item<double>() != 0) throw new XunitException($"{what}: must be equal; max |diff| {err.max().item<double>():g3}.");
            return;
        }
        var atol = AtolOf(e, what);
        var bound = atol + Rtol * e.abs();
        var excess = err - bound;
        long badCount = excess.gt(0).sum().item<long>();
        if (badCount == 0) return;
        long worst = excess.flatten().argmax().item<long>();
        throw new XunitException(
            $"{what}: {badCount} of {e.numel()} elements outside atol {Atol:g3} + rtol {Rtol:g3}*|e|; " +
            $"worst at flat index {worst}: actual {a.flatten()[worst].item<double>():g9}, expected {e.flatten()[worst].item<double>():g9}, " +
            $"|diff| {err.flatten()[worst].item<double>():g3} > bound {bound.flatten()[worst].item<double>():g3}; max |diff| {err.max().item<double>():g3}.");
    }

    /// <summary>The elementwise atol: the smallest of the scalar, per-sample and per-channel values given, each checked
    /// against the ceiling (no atol above the output's largest magnitude, no rtol above <see cref="MaxRtol"/>).</summary>
    Tensor AtolOf(Tensor expected, string what)
    {
        double largest = Math.Max(expected.abs().max().item<double>(), 1e-6);
        if (Rtol > MaxRtol || Rtol < 0)
            throw new XunitException($"{what}: rtol {Rtol:g3} is outside [0, {MaxRtol:g3}]: a tolerance that loose proves nothing.");
        foreach (var value in new[] { Atol }.Concat(AtolPerSample ?? []).Concat(AtolPerChannel ?? []))
            if (value > largest || value < 0)
                throw new XunitException($"{what}: atol {value:g3} is outside [0, {largest:g3}] (the largest expected magnitude): a tolerance that loose proves nothing.");
        var atol = full_like(expected, Atol);
        if (AtolPerSample is not null)
            atol = minimum(atol, tensor(AtolPerSample, ScalarType.Float64).reshape(BroadcastShape(expected, 0)));
        if (AtolPerChannel is not null)
            atol = minimum(atol, tensor(AtolPerChannel, ScalarType.Float64).reshape(BroadcastShape(expected, 1)));
        return atol;
    }

    static void AssertFinite(Tensor t, string what, string which)
    {
        long bad = t.isfinite().logical_not().sum().item<long>();
        if (bad > 0) throw new XunitException($"{what}: {bad} of {t.numel()} {which} values are NaN or infinite.");
    }

    static long[] BroadcastShape(Tensor t, int dim)
    {
        var shape = Enumerable.Repeat(1L, (int)t.dim()).ToArray();
        shape[dim] = t.shape[dim];
        return shape;
    }
}
