using DiT.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>Sampler properties the engine relies on, with the golden DiT A (8x8x4 latents, learned sigma, 10 classes).</summary>
public class SamplerBehaviourTests
{
    public static TheoryData<SamplerKind> Kinds => new() { SamplerKind.Ddpm, SamplerKind.Ddim, SamplerKind.DpmSolverPP2M };

    static SamplerSettings Settings(SamplerKind kind, int steps = 6) => new(kind, steps, Eta: kind == SamplerKind.Ddim ? 0.5 : 0);

    /// <summary>Samples requests (seed, class, scale, guidance interval) as one batch, every row drawing only from its own generator.</summary>
    static Tensor SampleRequests(DiTModel model, SamplerSettings settings, params (long Seed, long Class, float Scale, GuidanceInterval? Interval)[] requests)
    {
        var generators = Sampling.Generators(requests.Select(r => r.Seed));
        var xT = Sampling.PerSampleNoise(generators, [4, 8, 8]);
        var guided = ClassifierFreeGuidance.Wrap(DiTModels.Forward(model), tensor(requests.Select(r => r.Class).ToArray()),
            tensor(requests.Select(r => r.Scale).ToArray()), model.Config.NumClasses, model.Config.InChannels, GuidanceMode.AllChannels,
            new GuidanceIntervals(requests.Select(r => r.Interval), new DiffusionOptions()));
        return Sampling.Sample(guided, xT, settings, generators);
    }

    [Theory, MemberData(nameof(Kinds))]
    public void ASeedGivesTheSameSampleAloneAndInsideAMixedBatch(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var settings = Settings(kind);
        var interval = new GuidanceInterval(0.5, 20);
        var alone = SampleRequests(DiTModels.A, settings, (42, 3, 4f, interval));
        var mixed = SampleRequests(DiTModels.A, settings, (7, 5, 1f, null), (42, 3, 4f, interval), (9, 1, 1.5f, new GuidanceInterval(0, 2)));
        // Equal up to float32 rounding: batched matmuls may sum in another order for another batch size, and the
        // golden DiT's random weights blow samples up to |x| ~ 1e3, so the bound is relative to the sample's scale.
        double scale = alone.abs().max().item<float>();
        Assert.True(mixed[1].allclose(alone[0], rtol: 1e-5, atol: 1e-5 * scale), $"max |diff| {(mixed[1] - alone[0]).abs().max().item<float>()}, max |x| {scale}");
        Assert.False(mixed[0].allclose(alone[0], rtol: 1e-2, atol: 1e-2), "different requests must give different samples");
        var again = SampleRequests(DiTModels.A, settings, (42, 3, 4f, interval));
        var everyStep = SampleRequests(DiTModels.A, settings, (42, 3, 4f, null));
        Assert.False(everyStep.allclose(alone, rtol: 1e-3, atol: 1e-3), "the interval must change the sample");
        Assert.True(again.equal(alone).all().item<bool>(), "same request, same batch: bit-identical");
    }

    [Theory, MemberData(nameof(Kinds))]
    public void RowsAtDifferentStepsStepLikeTheyWouldAlone(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var sampler = new Sampler(Settings(kind));
        var model = DiTModels.A;
        var y = tensor(new long[] { 2, 8 });
        Denoiser conditional = (x, t) => model.forward(x, t, y);
        var x = randn([2, 4, 8, 8], generator: new Generator(1));
        var noise = randn([2, 4, 8, 8], generator: new Generator(2));
        var previous = randn([2, 4, 8, 8], generator: new Generator(3));
        var t = tensor(new long[] { sampler.IndexOfStep(0), sampler.IndexOfStep(3) }); // row 0 just joined, row 1 is mid-way
        var together = sampler.Step(conditional, x, t, noise, previous);
        for (int row = 0; row < 2; row++)
        {
            var r = row;
            Denoiser single = (xx, tt) => model.forward(xx, tt, y.narrow(0, r, 1));
            var alone = sampler.Step(single, x.narrow(0, r, 1), t.narrow(0, r, 1), noise.narrow(0, r, 1), previous.narrow(0, r, 1));
            Assert.True(together.Sample.narrow(0, r, 1).allclose(alone.Sample, rtol: 1e-4, atol: 1e-5), $"row {r}");
        }
    }

    [Fact]
    public void LiveTensorCountDoesNotGrowWithSteps()
    {
        using var scope = NewDisposeScope();
        var model = DiTModels.A;
        var y = tensor(new long[] { 1, 2 });
        var guided = ClassifierFreeGuidance.Wrap(DiTModels.Forward(model), y, tensor(new[] { 4f, 1f }), 10, 4, GuidanceMode.AllChannels);
        foreach (var kind in new[] { SamplerKind.Ddpm, SamplerKind.Ddim, SamplerKind.DpmSolverPP2M })
        {
            var generators = Sampling.Generators([1, 2]);
            var xT = Sampling.PerSampleNoise(generators, [4, 8, 8]);
            var live = new List<long>();
            long before = DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
            using (var result = Sampling.Sample(guided, xT, Settings(kind, 12), generators,
                onStep: (_, _) => live.Add(DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount))) { }
            Assert.Equal(12, live.Count);
            Assert.All(live.Skip(1), n => Assert.Equal(live[1], n));
            Assert.Equal(before, DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount);
        }
    }

    [Theory, MemberData(nameof(Kinds))]
    public void CancellationStopsTheLoopBeforeTheNextStep(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        using var cts = new CancellationTokenSource();
        int calls = 0;
        Denoiser model = (x, t) => { calls++; return cat([x * 0.1, zeros_like(x)], 1); };
        var generators = Sampling.Generators([5]);
        var progress = new List<(int, int)>();
        Assert.ThrowsAny<OperationCanceledException>(() => Sampling.Sample(model, zeros(1, 4, 8, 8), Settings(kind, 50), generators, cts.Token,
            (done, total) => { progress.Add((done, total)); if (done == 3) cts.Cancel(); }));
        Assert.Equal(3, calls);
        Assert.Equal([(1, 50), (2, 50), (3, 50)], progress);
    }

    [Theory, MemberData(nameof(Kinds))]
    public void AHalfPrecisionModelSeesItsDtypeWhileTheTrajectoryStaysFloat32(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var dtypesSeen = new HashSet<ScalarType>();
        Denoiser bf16Model = (x, t) => { dtypesSeen.Add(x.dtype); return cat([x * 0.5, zeros_like(x)], 1); };
        var generators = Sampling.Generators([3]);
        var noise = Sampling.PerSampleNoise(generators, [4, 4, 4], dtype: ScalarType.BFloat16);
        var result = Sampling.Sample(bf16Model, noise, Settings(kind, 4), generators);
        Assert.Equal([ScalarType.BFloat16], dtypesSeen);
        Assert.Equal(ScalarType.BFloat16, result.dtype);
        Assert.True(result.isfinite().all().item<bool>());
    }

    [Theory]
    [InlineData(SamplerKind.Ddim, "25", 25)]
    [InlineData(SamplerKind.Ddim, "ddim25", 25)]
    [InlineData(SamplerKind.Ddim, "10,20,30", 60)]
    [InlineData(SamplerKind.Ddim, "linspace20", 20)]
    [InlineData(SamplerKind.DpmSolverPP2M, "20", 20)]
    public void ASamplerRunsOnTheRespacingItIsGiven(SamplerKind kind, string respacing, int steps)
    {
        using var scope = NewDisposeScope();
        var seen = new List<long>();
        Denoiser model = (x, t) => { seen.Add(t.data<long>()[0]); return cat([x * 0.1, zeros_like(x)], 1); };
        Sampling.Sample(model, ones(1, 4, 2, 2), new SamplerSettings(kind, steps, Respacing: respacing), (_, like) => zeros_like(like));
        Assert.Equal(Respacing.Space(1000, respacing).Reverse().Select(t => (long)t), seen);
    }

    [Fact]
    public void InvalidSettingsFailClearly()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplerSettings(SamplerKind.Ddpm, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplerSettings(SamplerKind.Ddpm, 1001)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplerSettings(SamplerKind.Ddim, 10, Eta: -1)));
        Assert.Equal("ddim25", new SamplerSettings(SamplerKind.Ddim, 25).EffectiveRespacing(1000));
        Assert.Equal("600", new SamplerSettings(SamplerKind.Ddim, 600).EffectiveRespacing(1000));
        Assert.Equal("250", new SamplerSettings(SamplerKind.Ddpm, 250).EffectiveRespacing(1000));
        Assert.Equal("linspace20", new SamplerSettings(SamplerKind.DpmSolverPP2M, 20).EffectiveRespacing(1000));
        var mismatch = Assert.Throws<ArgumentException>(() => new Sampler(new SamplerSettings(SamplerKind.Ddim, 50, Respacing: "10,20")));
        Assert.Contains("keeps 30 steps", mismatch.Message);
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplerSettings(SamplerKind.DpmSolverPP2M, 1000)));
    }
}
