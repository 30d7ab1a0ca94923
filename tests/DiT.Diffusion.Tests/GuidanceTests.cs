using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>Guidance wrapper logic on a small hand-written class-conditional model (4 latent channels, learned sigma).</summary>
public class GuidanceTests
{
    const long NullClass = 10;

    /// <summary>Row-independent (x, t, y) -> 8 channels whose value depends on the class; records the batches it saw.</summary>
    sealed class RecordingModel
    {
        public List<long[]> LabelsSeen { get; } = [];

        public Tensor Forward(Tensor x, Tensor t, Tensor y)
        {
            LabelsSeen.Add(y.data<long>().ToArray());
            var classTerm = (y.to(ScalarType.Float32) * 0.1 + 1).view(-1, 1, 1, 1);  // (N, 1, 1, 1)
            var timeTerm = (t.to(ScalarType.Float32) / 1000).view(-1, 1, 1, 1);
            return cat([x * classTerm + timeTerm, (x * classTerm).tanh()], 1);      // (N, 8, H, W)
        }
    }

    static (Tensor X, Tensor T) Batch(int n)
    {
        var g = new Generator(7);
        return (randn([n, 4, 2, 2], generator: g), tensor(Enumerable.Range(0, n).Select(i => (long)(100 * i)).ToArray()));
    }

    [Fact]
    public void RowsWithScaleOneGetNoUnconditionalRow()
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var (x, t) = Batch(3);
        var guided = ClassifierFreeGuidance.Wrap(model.Forward, tensor(new long[] { 1, 2, 3 }), tensor(new[] { 1f, 4f, 1f }), NullClass, 4, GuidanceMode.AllChannels);
        guided(x, t);
        Assert.Equal([new long[] { 1, 2, 3, NullClass }], model.LabelsSeen);
    }

    [Fact]
    public void AGuidedModelIsToldWhichRowAndBranchEachModelRowServes()
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var layouts = new List<GuidedBatchLayout>();
        var (x, t) = Batch(4);
        var classes = tensor(new long[] { 1, 2, 3, 4 });
        var plain = ClassifierFreeGuidance.Wrap(model.Forward, classes, tensor(new[] { 2f, 1f, 1f, 3f }), NullClass, 4, GuidanceMode.AllChannels)(x, t);
        var told = ClassifierFreeGuidance.Wrap((xs, ts, ys, layout) => { layouts.Add(layout); return model.Forward(xs, ts, ys); },
            classes, tensor(new[] { 2f, 1f, 1f, 3f }), NullClass, 4, GuidanceMode.AllChannels)(x, t);

        var seen = Assert.Single(layouts);
        Assert.Equal(4, seen.Rows);                                                   // rows 0..3: conditional, in order
        Assert.Equal([0L, 3L], seen.UnconditionalOf);                                 // rows 4, 5: unconditional of rows 0 and 3
        Assert.Equal([1, 2, 3, 4, NullClass, NullClass], model.LabelsSeen[1]);
        Assert.True(told.equal(plain).all().item<bool>());
    }

    [Fact]
    public void AllScalesOneIsASingleConditionalPass()
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var (x, t) = Batch(2);
        var classes = tensor(new long[] { 4, 5 });
        var output = ClassifierFreeGuidance.Wrap(model.Forward, classes, ones(2), NullClass, 4, GuidanceMode.AllChannels)(x, t);
        Assert.Equal([new long[] { 4, 5 }], model.LabelsSeen);
        Assert.True(output.equal(model.Forward(x, t, classes)).all().item<bool>());
    }

    [Theory]
    [InlineData(GuidanceMode.AllChannels, 4)]
    [InlineData(GuidanceMode.Reference, 3)]
    public void GuidanceMixesOnlyItsChannelsAndKeepsTheRestFromTheCondRows(GuidanceMode mode, int guidedChannels)
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var (x, t) = Batch(3);
        var classes = tensor(new long[] { 1, 2, 3 });
        var scales = tensor(new[] { 1f, 4f, 2.5f });
        var output = ClassifierFreeGuidance.Wrap(model.Forward, classes, scales, NullClass, 4, mode)(x, t);
        var cond = model.Forward(x, t, classes);
        var uncond = model.Forward(x, t, full([3], NullClass));
        var expected = uncond + scales.view(-1, 1, 1, 1) * (cond - uncond);
        expected = cat([expected.narrow(1, 0, guidedChannels), cond.narrow(1, guidedChannels, 8 - guidedChannels)], 1);
        expected[0] = cond[0]; // scale 1: the plain conditional output
        Assert.True(output.allclose(expected, rtol: 1e-6, atol: 1e-6));
        Assert.False(output.narrow(1, guidedChannels - 1, 1).allclose(cond.narrow(1, guidedChannels - 1, 1)), "the last guided channel must differ from cond");
    }

    [Fact]
    public void ARowsGuidedOutputDoesNotDependOnItsBatchMates()
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var (x, t) = Batch(3);
        var batch = ClassifierFreeGuidance.Wrap(model.Forward, tensor(new long[] { 1, 2, 3 }), tensor(new[] { 3f, 1f, 6f }), NullClass, 4, GuidanceMode.AllChannels)(x, t);
        var alone = ClassifierFreeGuidance.Wrap(model.Forward, tensor(new long[] { 3 }), tensor(new[] { 6f }), NullClass, 4, GuidanceMode.AllChannels)(x.narrow(0, 2, 1), t.narrow(0, 2, 1));
        Assert.True(batch.narrow(0, 2, 1).allclose(alone, rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void ARowOutsideItsGuidanceIntervalSkipsItsUnconditionalPassAndIsTheConditionalOutput()
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var x = randn([4, 4, 2, 2], generator: new Generator(3));
        var t = tensor(new long[] { 900, 900, 100, 100 });              // sigma ~ 60 and ~ 0.35 on the linear schedule
        var classes = tensor(new long[] { 1, 2, 3, 4 });
        var scales = tensor(new[] { 4f, 4f, 4f, 4f });
        var intervals = new GuidanceIntervals([null, new GuidanceInterval(1, 10), new GuidanceInterval(0.1, 1), new GuidanceInterval(1, 10)], new DiffusionOptions());
        var output = ClassifierFreeGuidance.Wrap(model.Forward, classes, scales, NullClass, 4, GuidanceMode.AllChannels, intervals)(x, t);
        var always = ClassifierFreeGuidance.Wrap(model.Forward, classes, scales, NullClass, 4, GuidanceMode.AllChannels)(x, t);

        Assert.Equal(new long[] { 1, 2, 3, 4, NullClass, NullClass }, model.LabelsSeen[0]);   // rows 0 and 2 only
        var cond = model.Forward(x, t, classes);
        foreach (int row in new[] { 0, 2 }) Assert.True(output[row].equal(always[row]).all().item<bool>(), $"row {row} is guided");
        foreach (int row in new[] { 1, 3 }) Assert.True(output[row].equal(cond[row]).all().item<bool>(), $"row {row} is not guided");
    }

    [Fact]
    public void NoRowInsideItsIntervalIsASingleConditionalPass()
    {
        using var scope = NewDisposeScope();
        var model = new RecordingModel();
        var (x, t) = Batch(2);
        var intervals = new GuidanceIntervals([new GuidanceInterval(100, 200), new GuidanceInterval(100, 200)], new DiffusionOptions());
        ClassifierFreeGuidance.Wrap(model.Forward, tensor(new long[] { 4, 5 }), full([2], 3f), NullClass, 4, GuidanceMode.AllChannels, intervals)(x, t);
        Assert.Equal([new long[] { 4, 5 }], model.LabelsSeen);
    }

    [Theory]
    [InlineData(-0.1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 1)]
    [InlineData(0, double.PositiveInfinity)]
    [InlineData(double.NaN, 1)]
    public void AnIntervalMustBeOrderedFiniteAndNonNegative(double low, double high) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new GuidanceInterval(low, high));

    [Fact]
    public void NoiseLevelsSpanTheLinearScheduleFromTimestepZeroToTheLast()
    {
        var sigma = GuidanceInterval.NoiseLevels(new DiffusionOptions());
        Assert.Equal(0.01, sigma[0], 4);                                  // sqrt(beta_0 / (1 - beta_0)), beta_0 = 1e-4
        Assert.InRange(sigma[^1], 150, 160);
        Assert.True(sigma.Zip(sigma.Skip(1)).All(p => p.Second > p.First));
    }

    [Fact]
    public void MismatchedClassesAndScalesAreRejected()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => ClassifierFreeGuidance.Wrap(new RecordingModel().Forward, tensor(new long[] { 1, 2 }), ones(3), NullClass, 4, GuidanceMode.AllChannels));
        Assert.Contains("(N)", e.Message);
    }
}
