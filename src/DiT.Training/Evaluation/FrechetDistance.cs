using static TorchSharp.torch;

namespace DiT.Training.Evaluation;

/// <summary>
/// The Frechet distance between Gaussians fitted to two feature sets (the FID formula on any features):
/// |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1^1/2 S2 S1^1/2). Computed in double; the matrix square roots come
/// from symmetric eigen-decompositions (eigh), so no unstable Newton-Schulz iteration and no complex parts.
/// </summary>
public static class FrechetDistance
{
    /// <summary>Distance between the Gaussians of features a (N, D) and b (M, D).</summary>
    public static double Between(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var (mu1, s1) = MeanAndCovariance(a);
        var (mu2, s2) = MeanAndCovariance(b);
        return Between(mu1, s1, mu2, s2);
    }

    /// <summary>Distance between N(mu1, s1) and N(mu2, s2) given as (D) means and (D, D) covariances.</summary>
    public static double Between(Tensor mu1, Tensor s1, Tensor mu2, Tensor s2)
    {
        using var scope = NewDisposeScope();
        mu1 = mu1.to(ScalarType.Float64); mu2 = mu2.to(ScalarType.Float64);
        s1 = s1.to(ScalarType.Float64); s2 = s2.to(ScalarType.Float64);
        var root1 = SymmetricSqrt(s1);                                         // (D, D) S1^1/2
        var middle = root1.matmul(s2).matmul(root1);                           // (D, D) symmetric PSD
        var (values, _) = linalg.eigh(middle.Plus(middle.mT).DividedBy(2));              // (D)
        var traceOfRoot = values.ClampedBelow(0).sqrt().sum();
        var distance = (mu1 - mu2).Pow(2).sum().Plus(s1.trace()).Plus(s2.trace()) - traceOfRoot.Times(2);
        return distance.item<double>();
    }

    /// <summary>Mean (D) and unbiased covariance (D, D) of (N, D) features, in double.</summary>
    public static (Tensor Mean, Tensor Covariance) MeanAndCovariance(Tensor features)
    {
        if (features.dim() != 2 || features.shape[0] < 2)
            throw new ArgumentException($"Features must be (N, D) with N >= 2; got [{string.Join(", ", features.shape)}].", nameof(features));
        using var scope = NewDisposeScope();
        var x = features.to(ScalarType.Float64);
        var mean = x.mean([0]);                                                // (D)
        var centred = x - mean;                                                // (N, D)
        var covariance = centred.mT.matmul(centred).DividedBy(x.shape[0] - 1);        // (D, D)
        return (mean.MoveToOuterDisposeScope(), covariance.MoveToOuterDisposeScope());
    }

    /// <summary>The PSD square root of a symmetric matrix (negative round-off eigenvalues clamped to 0).</summary>
    static Tensor SymmetricSqrt(Tensor s)
    {
        using var scope = NewDisposeScope();
        var (values, vectors) = linalg.eigh(s.Plus(s.mT).DividedBy(2));                  // (D), (D, D)
        return vectors.matmul(diag(values.ClampedBelow(0).sqrt())).matmul(vectors.mT).MoveToOuterDisposeScope();
    }
}
