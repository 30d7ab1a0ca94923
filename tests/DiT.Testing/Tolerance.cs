using System.Text.Json.Nodes;
using Xunit;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace DiT.Testing;

/// <summary>|actual - expected| &lt;= atol + rtol*|expected|, elementwise; atol may vary along dim 0 (samples) or dim 1 (channels).</summary>
public sealed record Tolerance(double Atol, double Rtol, double[]? AtolPerSample = null, double[]? AtolPerChannel = null)
{
    public static Tolerance From(JsonObject node) => new(
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
        var atol = full_like(e, Atol);
        if (AtolPerSample is not null) atol = tensor(AtolPerSample, ScalarType.Float64).reshape(BroadcastShape(e, 0)).expand_as(e);
        if (AtolPerChannel is not null) atol = tensor(AtolPerChannel, ScalarType.Float64).reshape(BroadcastShape(e, 1)).expand_as(e);
        var err = (a - e).abs();
        var bound = atol + Rtol * e.abs();
        var excess = err - bound;
        var bad = excess.gt(0).logical_or(a.isnan());
        long badCount = bad.sum().item<long>();
        if (badCount == 0) return;
        long worst = excess.nan_to_num(double.PositiveInfinity).flatten().argmax().item<long>();
        throw new XunitException(
            $"{what}: {badCount} of {e.numel()} elements outside atol {Atol:g3} + rtol {Rtol:g3}*|e|; " +
            $"worst at flat index {worst}: actual {a.flatten()[worst].item<double>():g9}, expected {e.flatten()[worst].item<double>():g9}, " +
            $"|diff| {err.flatten()[worst].item<double>():g3} > bound {bound.flatten()[worst].item<double>():g3}; max |diff| {err.max().item<double>():g3}.");
    }

    static long[] BroadcastShape(Tensor t, int dim)
    {
        var shape = Enumerable.Repeat(1L, (int)t.dim()).ToArray();
        shape[dim] = t.shape[dim];
        return shape;
    }
}
