using DiT.Model.StepCaching;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>Step caching in the DiT forward: the schemes' decisions, exactness without reuse, per-row independence, no leaks.</summary>
public sealed class StepCacheTests
{
    static readonly DiTConfig Tiny = new(InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 32, Depth: 3, NumHeads: 2, NumClasses: 5);

    /// <summary>Every weight random (adaLN-Zero would make every block the identity and every residual zero).</summary>
    static readonly Lazy<DiTModel> Model = new(() =>
    {
        using var generator = new Generator(5, CPU);
        var model = new DiTModel(Tiny, generator);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
            if (name != "pos_embed") parameter.copy_(randn(parameter.shape, generator: generator) * 0.1);
        model.eval();
        return model;
    });

    /// <summary>Row <paramref name="row"/>'s model input at its call k: a made-up trajectory that changes a little per step.</summary>
    static (Tensor X, Tensor T, Tensor Y) Input(int row, int k)
    {
        using var generator = new Generator((ulong)(100 + row), CPU);
        var start = randn([1, 4, 8, 8], generator: generator);                      // (1, C, H, W)
        var direction = randn([1, 4, 8, 8], generator: generator);
        return (start + direction * (0.03 * k), tensor(new long[] { 900 - 30 * k }), tensor(new long[] { row % 5 }));
    }

    /// <summary>One call of the cached forward on the given rows, each at its own call index.</summary>
    static Tensor Call(IReadOnlyList<(int Row, int K, StepCacheSlot Slot)> rows)
    {
        var model = Model.Value; // built before any inference mode
        using var scope = NewDisposeScope();
        var (x, t, y) = Batch(rows.Select(r => (r.Row, r.K)));
        using var inference = inference_mode();
        return model.Forward(x, t, y, rows.Select(r => r.Slot).ToArray()).MoveToOuterDisposeScope();
    }

    /// <summary>The plain forward of the same rows.</summary>
    static Tensor Uncached(params (int Row, int K)[] rows)
    {
        var model = Model.Value;
        using var scope = NewDisposeScope();
        var (x, t, y) = Batch(rows);
        using var inference = inference_mode();
        return model.forward(x, t, y).MoveToOuterDisposeScope();
    }

    static (Tensor X, Tensor T, Tensor Y) Batch(IEnumerable<(int Row, int K)> rows)
    {
        var inputs = rows.Select(r => Input(r.Row, r.K)).ToArray();
        return (cat(inputs.Select(i => i.X).ToArray(), 0),                          // (N, C, H, W)
                cat(inputs.Select(i => i.T).ToArray(), 0),                          // (N)
                cat(inputs.Select(i => i.Y).ToArray(), 0));                         // (N)
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    [Theory]
    [InlineData("off", "off")]
    [InlineData("fora:2", "fora:2")]
    [InlineData(" TAYLOR:3 ", "taylor:3")]
    [InlineData("teacache:0.1", "teacache:0.1")]
    [InlineData("fora:20", "fora:20")]
    [InlineData("teacache:0", "teacache:0")]
    public void WireFormsParseAndPrintBack(string text, string printed)
    {
        var settings = StepCacheSettings.Parse(text);
        Assert.Equal(printed, settings.ToString());
        Assert.Equal(settings, StepCacheSettings.Parse(printed));
    }

    [Theory]
    [InlineData("fora:0")]
    [InlineData("fora:21")]
    [InlineData("taylor:-1")]
    [InlineData("fora:1.5")]
    [InlineData("teacache:2.5")]
    [InlineData("teacache:-0.1")]
    [InlineData("teacache:1e-3")]
    [InlineData("teacache:NaN")]
    [InlineData("fora")]
    [InlineData("fora:2:3")]
    [InlineData("lru:2")]
    [InlineData("")]
    [InlineData(null)]
    public void MalformedOrOutOfRangeSettingsAreRejected(string? text)
    {
        Assert.False(StepCacheSettings.TryParse(text, out var settings));
        Assert.True(settings.IsOff);
        if (text is not null) Assert.Contains("fora:N", Assert.Throws<ArgumentException>(() => StepCacheSettings.Parse(text)).Message);
    }

    [Fact]
    public void SchemesThatNeverReuseGiveTheUncachedForwardBitForBit()
    {
        string[] everyStep = ["fora:1", "taylor:1", "teacache:0", "off"];
        var slots = everyStep.Select(s => StepCacheSlot.Create(StepCacheSettings.Parse(s))).ToArray();
        try
        {
            for (int k = 0; k < 6; k++)
            {
                using var scope = NewDisposeScope();
                var cached = Call([.. slots.Select((slot, row) => (row, k, slot))]);
                var reference = Uncached([.. Enumerable.Range(0, slots.Length).Select(row => (row, k))]);
                Assert.True(Same(cached, reference), $"call {k} differs from the uncached forward");
            }
            Assert.All(slots, s => Assert.Equal(new ModelPasses(6, 0), s.Passes));
        }
        finally { foreach (var slot in slots) slot.Dispose(); }
    }

    [Fact]
    public void ForaRunsTheStackAtEveryNthCallOfItsRow()
    {
        using var slot = StepCacheSlot.Create(StepCacheSettings.Parse("fora:3"));
        var pattern = "";
        for (int k = 0; k < 10; k++)
        {
            int before = slot.Passes.Full;
            Call([(0, k, slot)]).Dispose();
            pattern += slot.Passes.Full > before ? 'F' : 'c';
        }
        Assert.Equal("FccFccFccF", pattern);
        Assert.Equal(new ModelPasses(4, 6), slot.Passes);
    }

    [Fact]
    public void AReusedPassAddsTheLastFullPassResidualToTheNewTokens()
    {
        using var slot = StepCacheSlot.Create(StepCacheSettings.Parse("fora:2"));
        using var scope = NewDisposeScope();
        Call([(0, 0, slot)]);
        var reused = Call([(0, 1, slot)]);

        using var inference = inference_mode();
        var model = Model.Value;
        var (x0, t0, y0) = Input(0, 0);
        var (h0, silu0) = model.Embed(x0, t0, y0);
        var residual = model.Blocks(h0, silu0) - h0;                                // (1, T, D)
        var (x1, t1, y1) = Input(0, 1);
        var (h1, silu1) = model.Embed(x1, t1, y1);
        var expected = model.Head(h1 + residual, silu1);                            // (1, C_out, H, W)

        Assert.True(Same(reused, expected));
        Assert.False(Same(reused, Uncached((0, 1))), "a reused pass should differ from a full one");
    }

    [Fact]
    public void TaylorSeerExtrapolatesTheResidualFromTheLastTwoFullPasses()
    {
        using var slot = StepCacheSlot.Create(StepCacheSettings.Parse("taylor:2"));
        using var scope = NewDisposeScope();
        var probe = ones(1, 4, 8);
        Assert.True(slot.BeginPass(probe));
        slot.Refresh(full(new long[] { 1, 4, 8 }, 1f));                             // R0 = 1
        Assert.False(slot.BeginPass(probe));
        Assert.Equal(1f, slot.EstimateResidual().mean().item<float>());             // no slope yet: R0
        Assert.True(slot.BeginPass(probe));
        slot.Refresh(full(new long[] { 1, 4, 8 }, 3f));                             // R2 = 3, two calls after R0
        Assert.False(slot.BeginPass(probe));
        Assert.Equal(4f, slot.EstimateResidual().mean().item<float>());             // R2 + 1 * (R2 - R0) / 2
    }

    [Fact]
    public void TeaCacheSkipsWhileTheAccumulatedChangeStaysBelowItsThreshold()
    {
        using var slot = StepCacheSlot.Create(StepCacheSettings.Parse("teacache:0.12"));
        using var scope = NewDisposeScope();
        var pattern = "";
        var probe = ones(1, 4, 8);
        for (int k = 0; k < 6; k++)
        {
            bool runs = slot.BeginPass(probe);                                      // each call changes the probe by 5%
            if (runs) slot.Refresh(zeros(1, 4, 8));
            pattern += runs ? 'F' : 'c';
            probe = probe * 1.05f;
        }
        Assert.Equal("FccFcc", pattern);                                             // 0.05, 0.10 < 0.12 <= 0.15
    }

    [Fact]
    public void ARowsOutputAndPassesDoNotDependOnTheRowsBesideIt()
    {
        const int calls = 9;
        var settings = StepCacheSettings.Parse("teacache:0.1");
        var alone = new List<Tensor>();
        var shared = new List<Tensor>();
        using var aloneSlot = StepCacheSlot.Create(settings);
        using var sharedSlot = StepCacheSlot.Create(settings);
        using var foraNeighbour = StepCacheSlot.Create(StepCacheSettings.Parse("fora:3"));
        using var uncachedNeighbour = StepCacheSlot.Create(StepCacheSettings.Off);
        using var scope = NewDisposeScope();
        for (int k = 0; k < calls; k++) alone.Add(Call([(7, k, aloneSlot)]));

        // Row 7 joins two rows at their third call; the uncached one leaves after six; the other stays to the end.
        for (int step = 0; step < calls + 2; step++)
        {
            var rows = new List<(int Row, int K, StepCacheSlot Slot)> { (1, step, foraNeighbour) };
            if (step >= 2) rows.Add((7, step - 2, sharedSlot));
            if (step < 6) rows.Add((2, step, uncachedNeighbour));
            var output = Call(rows);
            if (step >= 2) shared.Add(output.narrow(0, 1, 1));
        }

        Assert.True(aloneSlot.Passes.Cached > 0, "the threshold should let this trajectory skip some passes");
        Assert.Equal(aloneSlot.Passes, sharedSlot.Passes);
        for (int k = 0; k < calls; k++)
            Assert.True(shared[k].allclose(alone[k], rtol: 1e-5, atol: 1e-6), $"call {k} differs in a shared batch");
    }

    [Fact]
    public void SlotsLeaveNoTensorsBehindOnceDisposed()
    {
        using (var warmUp = StepCacheSlot.Create(StepCacheSettings.Off)) Call([(0, 0, warmUp)]).Dispose(); // lazily created handles
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var slots = new[] { "fora:2", "taylor:2", "teacache:0.05", "off" }.Select(s => StepCacheSlot.Create(StepCacheSettings.Parse(s))).ToArray();
        for (int k = 0; k < 6; k++) Call([.. slots.Select((slot, row) => (row, k, slot))]).Dispose();
        Assert.True(DisposeScopeManager.Statistics.ThreadTotalLiveCount > before, "the caches should hold their residuals between calls");

        foreach (var slot in slots) slot.Dispose();

        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
