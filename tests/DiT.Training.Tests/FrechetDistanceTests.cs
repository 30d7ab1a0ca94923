using DiT.Training.Evaluation;
using static TorchSharp.torch;

namespace DiT.Training.Tests;

public class FrechetDistanceTests
{
    [Fact]
    public void IdenticalFeatureSetsAreAtDistanceZero()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var features = randn([400, 16], generator: generator).matmul(randn([16, 16], generator: generator)); // correlated
        Assert.InRange(FrechetDistance.Between(features, features.clone()), -1e-6, 1e-6);
    }

    [Fact]
    public void DistanceOfKnownGaussiansMatchesClosedForm()
    {
        // Covariances sharing eigenvectors Q: S = Q diag(v) Q^T, so tr sqrt(S1^1/2 S2 S1^1/2) = sum sqrt(v1 v2) and
        // d = |mu1 - mu2|^2 + sum (sqrt v1 - sqrt v2)^2. Q is a random rotation, so the matrices are far from diagonal.
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var (q, _) = linalg.qr(randn([6, 6], ScalarType.Float64, generator: generator));
        var v1 = tensor(new[] { 0.5, 1, 2, 3, 4, 9 });
        var v2 = tensor(new[] { 2.0, 1, 0.5, 3, 1, 4 });
        var mu1 = tensor(new[] { 0.0, 1, 2, 0, 0, 0 });
        var mu2 = tensor(new[] { 1.0, 1, 0, 0, 0, 3 });
        var s1 = q.matmul(diag(v1)).matmul(q.mT);
        var s2 = q.matmul(diag(v2)).matmul(q.mT);
        double expected = (mu1 - mu2).square().sum().item<double>() + (v1.sqrt() - v2.sqrt()).square().sum().item<double>();

        Assert.Equal(expected, FrechetDistance.Between(mu1, s1, mu2, s2), 9);
    }

    [Fact]
    public void SampleStatisticsOfOneDimensionalGaussiansGiveTheClosedForm()
    {
        // 1-D Gaussians: d = (m1 - m2)^2 + (sigma1 - sigma2)^2, here with sample statistics of large draws.
        using var scope = NewDisposeScope();
        using var generator = new Generator(11);
        var a = randn([200_000, 1], ScalarType.Float64, generator: generator) * 2 + 1;   // N(1, 4)
        var b = randn([200_000, 1], ScalarType.Float64, generator: generator) * 0.5;     // N(0, 0.25)
        Assert.InRange(FrechetDistance.Between(a, b), 3.25 - 0.05, 3.25 + 0.05);         // 1 + (2 - 0.5)^2
    }

    [Fact]
    public void TooFewFeaturesAreRejectedWithTheShape()
    {
        using var one = zeros(1, 4);
        var error = Assert.Throws<ArgumentException>(() => FrechetDistance.Between(one, one));
        Assert.Contains("N >= 2", error.Message);
    }
}
