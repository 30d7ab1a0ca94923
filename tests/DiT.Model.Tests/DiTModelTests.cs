using static TorchSharp.torch;

namespace DiT.Model.Tests;

public sealed class DiTModelTests
{
    static readonly DiTConfig Tiny = new(InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 32, Depth: 1, NumHeads: 2, NumClasses: 5);

    [Fact]
    public void FreshModelHasTheStateDictKeysOfTheReference()
    {
        using var model = new DiTModel(Tiny);
        var keys = model.state_dict().Keys.ToHashSet();
        foreach (var key in new[] { "pos_embed", "x_embedder.proj.weight", "x_embedder.proj.bias", "t_embedder.mlp.0.weight", "t_embedder.mlp.2.bias",
                                    "y_embedder.embedding_table.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias", "blocks.0.mlp.fc1.weight",
                                    "blocks.0.mlp.fc2.bias", "blocks.0.adaLN_modulation.1.weight", "final_layer.linear.weight", "final_layer.adaLN_modulation.1.bias" })
            Assert.Contains(key, keys);
        Assert.Equal(22, keys.Count);
        Assert.Equal([1, 16, 32], model.state_dict()["pos_embed"].shape);
        Assert.Equal([6, 32], model.state_dict()["y_embedder.embedding_table.weight"].shape);
        Assert.False(model.state_dict()["pos_embed"].requires_grad);
    }

    [Fact]
    public void ModelBuiltOrLoadedInsideADisposeScopeOutlivesThatScope()
    {
        // Services build models inside per-request scopes; the model's own tensors must not belong to them.
        DiTModel model;
        using (NewDisposeScope()) model = new DiTModel(Tiny);
        using (model)
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var output = model.forward(randn(1, 4, 8, 8), tensor(new long[] { 10 }), tensor(new long[] { 1 }));
            Assert.Equal([1, 8, 8, 8], output.shape);
            Assert.False(model.state_dict()["pos_embed"].IsInvalid);
        }
    }

    [Fact]
    public void FreshModelIsAdaLNZeroInitialisedSoItsOutputIsZero()
    {
        using var scope = NewDisposeScope();
        using var model = new DiTModel(Tiny);
        var sd = model.state_dict();
        Assert.Equal(0, sd["blocks.0.adaLN_modulation.1.weight"].abs().sum().item<float>());
        Assert.Equal(0, sd["final_layer.linear.weight"].abs().sum().item<float>());
        Assert.Equal(0, sd["x_embedder.proj.bias"].abs().sum().item<float>());
        float bound = MathF.Sqrt(6f / (4 * 2 * 2 + 32));   // xavier on the (D, C*p*p) view
        Assert.InRange(sd["x_embedder.proj.weight"].abs().max().item<float>(), bound * 0.5f, bound);
        Assert.InRange(sd["y_embedder.embedding_table.weight"].std().item<float>(), 0.015f, 0.025f);

        using var noGrad = no_grad();
        var output = model.forward(randn(2, 4, 8, 8), tensor(new long[] { 3, 999 }), tensor(new long[] { 1, 5 }));
        Assert.Equal([2, 8, 8, 8], output.shape);
        Assert.Equal(0, output.abs().max().item<float>());
    }

    [Fact]
    public void ForwardLeavesNoLiveTensorsBehindButItsOutput()
    {
        using var model = new DiTModel(Tiny);
        using var x = randn(2, 4, 8, 8);
        using var t = tensor(new long[] { 3, 999 });
        using var y = tensor(new long[] { 1, 5 });
        using var noGrad = no_grad();
        model.forward(x, t, y).Dispose();   // warm-up: lazily created handles
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) model.forward(x, t, y).Dispose();
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void FractionalTimestepsAreAccepted()
    {
        using var scope = NewDisposeScope();
        using var model = new DiTModel(Tiny with { LearnSigma = false });
        using var noGrad = no_grad();
        var output = model.forward(randn(2, 4, 8, 8), tensor(new float[] { 0.5f, 250.25f }), tensor(new long[] { 0, 4 }));
        Assert.Equal([2, 4, 8, 8], output.shape);
    }

    [Fact]
    public void TrainingModeDropsLabelsToTheNullClassAndEvalModeNever()
    {
        using var scope = NewDisposeScope();
        using var embedder = new LabelEmbedder(numClasses: 5, hiddenSize: 8, dropoutProb: 0.5);
        var table = embedder.state_dict()["embedding_table.weight"];
        var labels = full(400, 2L, ScalarType.Int64);
        using var noGrad = no_grad();

        embedder.eval();
        Assert.True(embedder.forward(labels).equal(table[2].expand(400, 8)).all().item<bool>());

        embedder.train();
        manual_seed(11);
        var rows = embedder.forward(labels);
        var isNull = rows.eq(table[5]).all(1);
        var isKept = rows.eq(table[2]).all(1);
        Assert.True(isNull.logical_or(isKept).all().item<bool>());
        Assert.InRange(isNull.sum().item<long>(), 150, 250);
    }

    [Fact]
    public void ModelTrainAndEvalReachTheLabelEmbedder()
    {
        using var model = new DiTModel(Tiny);
        var embedder = model.modules().OfType<LabelEmbedder>().Single();
        model.train();
        Assert.True(embedder.training);
        model.eval();
        Assert.False(embedder.training);
    }
}
