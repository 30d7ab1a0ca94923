using TorchSharp;
using static TorchSharp.torch;

namespace DiT;

/// <summary>
/// Arithmetic with numbers that keeps the Scalar alive while libtorch reads it.
/// TorchSharp 0.107 turns a number given where libtorch wants a Scalar (<c>x + 1</c>, <c>x * s</c>, and the alpha of
/// every <c>a + b</c>) into a Scalar that only its finalizer frees, and nothing references it during the native call:
/// a GC on another thread can free it mid-call (a rare use-after-free: "Expected false to be true" in
/// c10::Scalar::toFloat). These helpers do the same arithmetic as TorchSharp's operators, bit for bit, with a
/// Scalar that is either static or disposed after the call. One source file, linked into each project that needs it;
/// NativeScalarLifetimeTests reads the IL of every project and fails on a temporary Scalar.
/// </summary>
internal static class KeptScalars
{
    /// <summary>The alpha of a + b; static, so always reachable, and never disposed.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>a + b.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a + b, in place.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>x + value (an integer keeps an integer tensor integral, as <c>x + 1</c> does).</summary>
    public static Tensor Plus(this Tensor x, long value) { using var s = value.ToScalar(); return x.add(s, One); }

    /// <summary>x + value.</summary>
    public static Tensor Plus(this Tensor x, double value) { using var s = value.ToScalar(); return x.add(s, One); }

    /// <summary>x += value.</summary>
    public static Tensor PlusInPlace(this Tensor x, double value) { using var s = value.ToScalar(); return x.add_(s, One); }

    /// <summary>x - value.</summary>
    public static Tensor Minus(this Tensor x, double value) { using var s = value.ToScalar(); return x.sub(s); }

    /// <summary>value - x, as TorchSharp computes <c>value - x</c>.</summary>
    public static Tensor SubtractedFrom(this Tensor x, double value) { using var s = value.ToScalar(); return x.negative().add(s, One); }

    /// <summary>a + alpha b.</summary>
    public static Tensor PlusScaled(this Tensor a, Tensor b, long alpha) { using var s = alpha.ToScalar(); return a.add(b, s); }

    /// <summary>a + alpha b.</summary>
    public static Tensor PlusScaled(this Tensor a, Tensor b, double alpha) { using var s = alpha.ToScalar(); return a.add(b, s); }

    /// <summary>a += alpha b.</summary>
    public static Tensor PlusScaledInPlace(this Tensor a, Tensor b, double alpha) { using var s = alpha.ToScalar(); return a.add_(b, s); }

    /// <summary>x * value.</summary>
    public static Tensor Times(this Tensor x, double value) { using var s = value.ToScalar(); return x.mul(s); }

    /// <summary>x * value, in place.</summary>
    public static Tensor TimesInPlace(this Tensor x, double value) { using var s = value.ToScalar(); return x.mul_(s); }

    /// <summary>x / value (an integer divisor, as <c>x / 2</c> passes it).</summary>
    public static Tensor DividedBy(this Tensor x, long value) { using var s = value.ToScalar(); return x.div(s); }

    /// <summary>x / value.</summary>
    public static Tensor DividedBy(this Tensor x, double value) { using var s = value.ToScalar(); return x.div(s); }

    /// <summary>floor(x / value).</summary>
    public static Tensor FloorDividedBy(this Tensor x, long value) { using var s = value.ToScalar(); return x.div(s, RoundingMode.floor); }

    /// <summary>x mod value, with the divisor's sign (torch.remainder).</summary>
    public static Tensor Remainder(this Tensor x, long value) { using var s = value.ToScalar(); return x.remainder(s); }

    /// <summary>x ** exponent, elementwise.</summary>
    public static Tensor Pow(this Tensor x, long exponent) { using var s = exponent.ToScalar(); return x.pow(s); }

    /// <summary>x &lt; value, elementwise.</summary>
    public static Tensor LessThan(this Tensor x, double value) { using var s = value.ToScalar(); return x.lt(s); }

    /// <summary>x == value, elementwise.</summary>
    public static Tensor EqualTo(this Tensor x, long value) { using var s = value.ToScalar(); return x.eq(s); }

    /// <summary>x &gt; value, elementwise.</summary>
    public static Tensor GreaterThan(this Tensor x, double value) { using var s = value.ToScalar(); return x.gt(s); }

    /// <summary>A tensor of the shape, filled with value.</summary>
    public static Tensor Full(long[] shape, long value, ScalarType dtype, Device? device = null)
    {
        using var s = value.ToScalar();
        return full(shape, s, dtype, device);
    }

    /// <summary>A tensor of the shape, filled with value.</summary>
    public static Tensor Full(long[] shape, double value, ScalarType dtype, Device? device = null)
    {
        using var s = value.ToScalar();
        return full(shape, s, dtype, device);
    }

    /// <summary>A tensor shaped and typed like x, filled with value.</summary>
    public static Tensor FullLike(Tensor x, long value) { using var s = value.ToScalar(); return full_like(x, s); }

    /// <summary>max(x, min), elementwise.</summary>
    public static Tensor ClampedBelow(this Tensor x, double min) { using var s = min.ToScalar(); return x.clamp(min: s); }

    /// <summary>x clamped to [min, max].</summary>
    public static Tensor Clamped(this Tensor x, double min, double max)
    {
        using Scalar lo = min.ToScalar(), hi = max.ToScalar();
        return x.clamp(lo, hi);
    }

    /// <summary>x clamped to [min, max], in place.</summary>
    public static Tensor ClampedInPlace(this Tensor x, double min, double max)
    {
        using Scalar lo = min.ToScalar(), hi = max.ToScalar();
        return x.clamp_(lo, hi);
    }

    /// <summary>0, 1, ..., count - 1 (torch.arange(count)).</summary>
    public static Tensor Range(long count, ScalarType dtype, Device? device = null)
    {
        using Scalar start = 0.ToScalar(), stop = count.ToScalar();
        return arange(start, stop, One, dtype, device);
    }
}
