// Field names are the checkpoint contract (PyTorch state-dict keys), hence snake_case.
#pragma warning disable IDE1006, CA1707
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

// Only DiTModel is public; the tests reach the label embedder directly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("DiT.Model.Tests")]

namespace DiT.Model;

// ==================================================================================
//          Embedding layers for patches, timesteps and class labels
// ==================================================================================

/// <summary>
/// Image to patch tokens: a conv with kernel = stride = p, flattened row-major (timm's PatchEmbed). Computed as the
/// linear map it is, (N*T, C*p*p) patches times the kernel as a (D, C*p*p) matrix: libtorch's CPU conv took another
/// kernel for one image than for several (about 2e-7 apart), so an image drawn alone, or alone at a step outside its
/// guidance interval, got other low bits than in a batch; GEMM rows agree at any batch (see BatchInvariantLinear).
/// </summary>
internal sealed class PatchEmbed : Module<Tensor, Tensor>
{
    readonly Conv2d proj;
    readonly int _patchSize;

    public PatchEmbed(int patchSize, int inChannels, int hiddenSize) : base(nameof(PatchEmbed))
    {
        proj = Conv2d(inChannels, hiddenSize, kernel_size: patchSize, stride: patchSize);
        _patchSize = patchSize;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], c = x.shape[1], gh = x.shape[2] / _patchSize, gw = x.shape[3] / _patchSize;
        var patches = x.reshape(n, c, gh, _patchSize, gw, _patchSize)                 // (N, C, h, p, w, q)
            .permute(0, 2, 4, 1, 3, 5)                                               // (N, h, w, C, p, q)
            .reshape(n * gh * gw, c * _patchSize * _patchSize);                      // (N*T, C*p*p), a conv kernel's order
        return functional.linear(patches, proj.weight!.flatten(1), proj.bias)        // (N*T, D)
            .view(n, gh * gw, -1)                                                    // (N, T, D)
            .MoveToOuterDisposeScope();
    }

    /// <summary>Xavier-uniform on the kernel viewed as a (D, C*p*p) matrix, as the paper initialises it like a linear.</summary>
    internal void InitWeights(Generator? generator)
    {
        var w = proj.weight!;
        double fanOut = w.shape[0], fanIn = w.shape[1] * w.shape[2] * w.shape[3];
        double bound = Math.Sqrt(6.0 / (fanIn + fanOut));
        SeededInit.Uniform(w, -bound, bound, generator);
        init.zeros_(proj.bias!);
    }
}

/// <summary>Embeds scalar timesteps: sinusoidal features (256 frequencies) then Linear, SiLU, Linear.</summary>
internal sealed class TimestepEmbedder : Module<Tensor, Tensor>
{
    readonly Sequential mlp;

    public TimestepEmbedder(int hiddenSize) : base(nameof(TimestepEmbedder))
    {
        mlp = Sequential(
            ("0", Linear(DiTConfig.FrequencyEmbeddingSize, hiddenSize)),
            ("1", SiLU()),
            ("2", Linear(hiddenSize, hiddenSize)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor t)
    {
        using var scope = NewDisposeScope();
        var freq = DiTModel.TimestepEmbedding(t, DiTConfig.FrequencyEmbeddingSize);   // (N, 256) float32
        var dtype = ((Linear)mlp[0]).weight!.dtype;
        var hidden = functional.silu(BatchInvariantLinear.Forward((Linear)mlp[0], freq.to(dtype)));   // (N, D)
        return BatchInvariantLinear.Forward((Linear)mlp[2], hidden).MoveToOuterDisposeScope();        // (N, D)
    }

    internal void InitWeights(Generator? generator)
    {
        SeededInit.Normal(((Linear)mlp[0]).weight!, std: 0.02, generator);
        SeededInit.Normal(((Linear)mlp[2]).weight!, std: 0.02, generator);
    }
}

/// <summary>Embeds class ids; id NumClasses is the "null" class, and in training labels are dropped to it with ClassDropoutProb.</summary>
internal sealed class LabelEmbedder : Module<Tensor, Tensor>
{
    readonly Embedding embedding_table;
    readonly int _numClasses;
    readonly double _dropoutProb;

    public LabelEmbedder(int numClasses, int hiddenSize, double dropoutProb) : base(nameof(LabelEmbedder))
    {
        embedding_table = Embedding(numClasses + (dropoutProb > 0 ? 1 : 0), hiddenSize);
        (_numClasses, _dropoutProb) = (numClasses, dropoutProb);
        RegisterComponents();
    }

    public override Tensor forward(Tensor labels)
    {
        using var scope = NewDisposeScope();
        if (training && _dropoutProb > 0)
        {
            var drop = rand(labels.shape[0], device: labels.device).LessThan(_dropoutProb);  // (N) bool
            labels = where(drop, KeptScalars.FullLike(labels, _numClasses), labels);             // (N)
        }
        return embedding_table.forward(labels).MoveToOuterDisposeScope();            // (N, D)
    }

    internal void InitWeights(Generator? generator) => SeededInit.Normal(embedding_table.weight!, std: 0.02, generator);
}

// ==================================================================================
//                                 Core DiT model
// ==================================================================================

/// <summary>Multi-head self-attention with a fused qkv projection (timm's Attention, qkv_bias=True).</summary>
internal sealed class DiTAttention : Module<Tensor, Tensor>
{
    readonly Linear qkv;
    readonly Linear proj;
    readonly int _numHeads;

    public DiTAttention(int dim, int numHeads) : base(nameof(DiTAttention))
    {
        qkv = Linear(dim, dim * 3);
        proj = Linear(dim, dim);
        _numHeads = numHeads;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], tokens = x.shape[1], d = x.shape[2];
        var heads = qkv.forward(x)                                                  // (N, T, 3D)
            .reshape(n, tokens, 3, _numHeads, d / _numHeads)                         // (N, T, 3, H, Dh)
            .permute(2, 0, 3, 1, 4)                                                  // (3, N, H, T, Dh)
            .unbind(0);
        var attended = functional.scaled_dot_product_attention(heads[0], heads[1], heads[2]); // (N, H, T, Dh), softmax(q k^T / sqrt(Dh)) v
        var merged = attended.transpose(1, 2).reshape(n, tokens, d);                // (N, T, D)
        return proj.forward(merged).MoveToOuterDisposeScope();                      // (N, T, D)
    }
}

/// <summary>Two-layer MLP with tanh-approximated GELU (timm's Mlp as DiT configures it).</summary>
internal sealed class DiTMlp : Module<Tensor, Tensor>
{
    readonly Linear fc1;
    readonly GELU act;
    readonly Linear fc2;

    public DiTMlp(int dim, int hidden) : base(nameof(DiTMlp))
    {
        fc1 = Linear(dim, hidden);
        act = GELU(TorchSharp.Modules.GELU.Approximate.tanh);
        fc2 = Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = fc1.forward(x);                                                     // (N, T, 4D)
        if (!TanhGelu.TryApplyInPlace(h)) h = act.forward(h);                       // serving on the CPU: one fused pass
        return fc2.forward(h).MoveToOuterDisposeScope();                            // (N, T, D)
    }
}

/// <summary>A transformer block with adaptive layer norm zero (adaLN-Zero) conditioning.</summary>
internal sealed class DiTBlock : Module<Tensor, Tensor, Tensor>
{
    readonly LayerNorm norm1;
    readonly DiTAttention attn;
    readonly LayerNorm norm2;
    readonly DiTMlp mlp;
    readonly Sequential adaLN_modulation;

    public DiTBlock(int hiddenSize, int numHeads, int mlpHidden) : base(nameof(DiTBlock))
    {
        norm1 = LayerNorm(hiddenSize, eps: 1e-6, elementwise_affine: false);
        attn = new DiTAttention(hiddenSize, numHeads);
        norm2 = LayerNorm(hiddenSize, eps: 1e-6, elementwise_affine: false);
        mlp = new DiTMlp(hiddenSize, mlpHidden);
        adaLN_modulation = Sequential(("0", SiLU()), ("1", Linear(hiddenSize, 6 * hiddenSize)));
        RegisterComponents();
    }

    /// <summary>x (N, T, D); siluC (N, D) = SiLU(c), computed once per forward for every block (the first module of
    /// adaLN_modulation), so the block applies only its linear.</summary>
    public override Tensor forward(Tensor x, Tensor siluC)
    {
        using var scope = NewDisposeScope();
        var m = Modulation(siluC);                                                  // 6 x (N, 1, D)
        var (shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp) = (m[0], m[1], m[2], m[3], m[4], m[5]);
        x = addcmul(x, gateMsa, attn.forward(Modulate(norm1.forward(x), shiftMsa, scaleMsa)), KeptScalars.One); // (N, T, D), x + gate * attn
        x = addcmul(x, gateMlp, mlp.forward(Modulate(norm2.forward(x), shiftMlp, scaleMlp)), KeptScalars.One); // (N, T, D), x + gate * mlp
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The attention branch's input, modulated by (t, y): what TeaCache compares between steps. x (N, T, D).</summary>
    internal Tensor ModulatedAttentionInput(Tensor x, Tensor siluC)
    {
        using var scope = NewDisposeScope();
        var m = Modulation(siluC);                                                  // 6 x (N, 1, D)
        return Modulate(norm1.forward(x), m[0], m[1]).MoveToOuterDisposeScope();    // (N, T, D)
    }

    /// <summary>(shift, scale, gate) for attention, then for the MLP: 6 x (N, 1, D).</summary>
    Tensor[] Modulation(Tensor siluC) => BatchInvariantLinear.Forward((Linear)adaLN_modulation[1], siluC).unsqueeze(1).chunk(6, dim: 2);

    /// <summary>x (1 + scale) + shift in one fused pass; shift and scale are (N, 1, D).</summary>
    internal static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) =>
        addcmul(shift, x, scale.Plus(1), KeptScalars.One);                                            // (N, T, D)

    internal void ZeroModulation() => DiTModel.ZeroLinear((Linear)adaLN_modulation[1]);
}

/// <summary>The final adaLN-modulated layer norm and linear map to p*p*out_channels values per token.</summary>
internal sealed class FinalLayer : Module<Tensor, Tensor, Tensor>
{
    readonly LayerNorm norm_final;
    readonly Linear linear;
    readonly Sequential adaLN_modulation;

    public FinalLayer(int hiddenSize, int patchSize, int outChannels) : base(nameof(FinalLayer))
    {
        norm_final = LayerNorm(hiddenSize, eps: 1e-6, elementwise_affine: false);
        linear = Linear(hiddenSize, patchSize * patchSize * outChannels);
        adaLN_modulation = Sequential(("0", SiLU()), ("1", Linear(hiddenSize, 2 * hiddenSize)));
        RegisterComponents();
    }

    /// <summary>x (N, T, D); siluC (N, D) = SiLU(c), as for the blocks.</summary>
    public override Tensor forward(Tensor x, Tensor siluC)
    {
        using var scope = NewDisposeScope();
        var m = BatchInvariantLinear.Forward((Linear)adaLN_modulation[1], siluC).unsqueeze(1).chunk(2, dim: 2); // 2 x (N, 1, D): shift, scale
        x = DiTBlock.Modulate(norm_final.forward(x), m[0], m[1]);                   // (N, T, D)
        return linear.forward(x).MoveToOuterDisposeScope();                         // (N, T, p*p*C_out)
    }

    internal void ZeroInit()
    {
        DiTModel.ZeroLinear((Linear)adaLN_modulation[1]);
        DiTModel.ZeroLinear(linear);
    }
}

/// <summary>Diffusion model with a Transformer backbone (Peebles &amp; Xie 2023): forward(x, t, y) -> eps (and variance values).</summary>
public sealed class DiTModel : Module<Tensor, Tensor, Tensor, Tensor>
{
    readonly Parameter pos_embed;
    readonly PatchEmbed x_embedder;
    readonly TimestepEmbedder t_embedder;
    readonly LabelEmbedder y_embedder;
    readonly ModuleList<DiTBlock> blocks;
    readonly FinalLayer final_layer;

    public DiTConfig Config { get; }

    /// <summary>Builds the model with the paper's training-from-scratch initialisation, drawn from the process-wide RNG.</summary>
    public DiTModel(DiTConfig config) : this(config, initialize: true) { }

    /// <summary>The same initialisation drawn from <paramref name="generator"/> alone: reproducible from its seed even
    /// while other threads draw from the process-wide RNG (every weight the defaults set is overwritten).</summary>
    public DiTModel(DiTConfig config, Generator generator) : this(config, initialize: true, generator) { }

    /// <summary>Without <paramref name="initialize"/> the weights keep TorchSharp's defaults: for loaders that overwrite them all anyway.</summary>
    internal DiTModel(DiTConfig config, bool initialize, Generator? generator = null) : base(nameof(DiTModel))
    {
        Config = config.Validated();
        x_embedder = new PatchEmbed(config.PatchSize, config.InChannels, config.HiddenSize);
        t_embedder = new TimestepEmbedder(config.HiddenSize);
        y_embedder = new LabelEmbedder(config.NumClasses, config.HiddenSize, config.ClassDropoutProb);
        // Fixed sin-cos table; a parameter without gradient so it is saved in the state dict, as in the reference.
        // Detached so a model built inside a caller's dispose scope keeps its table when that scope ends.
        pos_embed = new Parameter(SinCosPositionTable(config.HiddenSize, config.GridSize).to(ScalarType.Float32).unsqueeze(0).DetachFromDisposeScope(), requires_grad: false);
        blocks = new ModuleList<DiTBlock>(Enumerable.Range(0, config.Depth)
            .Select(_ => new DiTBlock(config.HiddenSize, config.NumHeads, config.MlpHiddenSize)).ToArray());
        final_layer = new FinalLayer(config.HiddenSize, config.PatchSize, config.OutChannels);
        RegisterComponents();
        if (initialize) InitializeWeights(generator);
    }

    /// <summary>x (N, C, H, W) latents, t (N) timesteps (integer or fractional), y (N) class ids (NumClasses = null class) -> (N, OutChannels, H, W).</summary>
    public override Tensor forward(Tensor x, Tensor t, Tensor y)
    {
        using var scope = NewDisposeScope();
        var (h, siluC) = Embed(x, t, y);                                             // (N, T, D), (N, D)
        return Head(Blocks(h, siluC), siluC).MoveToOuterDisposeScope();              // (N, C_out, H, W)
    }

    // The three stages of forward, for StepCaching, which runs the blocks on some rows only.

    /// <summary>Patch tokens with positions (N, T, D), T = H*W / p^2, and SiLU(c) (N, D), every adaLN's first module, once.</summary>
    internal (Tensor Tokens, Tensor SiluC) Embed(Tensor x, Tensor t, Tensor y)
    {
        var h = x_embedder.forward(x).Plus(pos_embed);                                  // (N, T, D)
        var c = t_embedder.forward(t).Plus(y_embedder.forward(y));                      // (N, D)
        return (h, functional.silu(c));
    }

    /// <summary>The transformer stack: (N, T, D) -> (N, T, D).</summary>
    internal Tensor Blocks(Tensor h, Tensor siluC)
    {
        foreach (var block in blocks) h = block.forward(h, siluC);                   // (N, T, D)
        return h;
    }

    /// <summary>Block 0's modulated attention input (N, T, D): a cheap estimate of how much a step changes the stack's input.</summary>
    internal Tensor FirstBlockModulatedInput(Tensor h, Tensor siluC) => blocks[0].ModulatedAttentionInput(h, siluC);

    /// <summary>Final layer and unpatchify: (N, T, D) -> (N, C_out, H, W).</summary>
    internal Tensor Head(Tensor h, Tensor siluC) => Unpatchify(final_layer.forward(h, siluC));

    /// <summary>(N, T, p*p*C) tokens -> (N, C, H, W): each token holds (patch row, patch column, channel), channel fastest.</summary>
    Tensor Unpatchify(Tensor x)
    {
        int p = Config.PatchSize, g = Config.GridSize, c = Config.OutChannels;
        return x.reshape(x.shape[0], g, g, p, p, c)                                  // (N, h, w, p, q, C)
            .permute(0, 5, 1, 3, 2, 4)                                               // (N, C, h, p, w, q)
            .reshape(x.shape[0], c, g * p, g * p);                                   // (N, C, H, W)
    }

    void InitializeWeights(Generator? generator)
    {
        using var noGrad = no_grad();
        foreach (var module in modules().OfType<Linear>())
        {
            SeededInit.XavierUniform(module.weight!, generator);
            if (module.bias is not null) init.zeros_(module.bias);
        }
        x_embedder.InitWeights(generator);
        y_embedder.InitWeights(generator);
        t_embedder.InitWeights(generator);
        foreach (var block in blocks) block.ZeroModulation();
        final_layer.ZeroInit();
    }

    internal static void ZeroLinear(Linear linear)
    {
        init.zeros_(linear.weight!);
        if (linear.bias is not null) init.zeros_(linear.bias);
    }

    // ---------------------------------------------------------------- fixed embeddings

    /// <summary>
    /// Sinusoidal timestep features, always computed in float32 as the reference does: [cos(t f) | sin(t f)],
    /// f_i = exp(-ln(maxPeriod) i / half), half = dim / 2; an odd dim gets one zero column. (N) -> (N, dim).
    /// </summary>
    public static Tensor TimestepEmbedding(Tensor t, int dim, double maxPeriod = 10000)
    {
        using var scope = NewDisposeScope();
        int half = dim / 2;
        var freqs = exp(KeptScalars.Range(half, ScalarType.Float32, t.device).Times((float)-Math.Log(maxPeriod)).DividedBy((float)half)); // (half)
        var args = t.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);      // (N, half)
        var emb = cat([cos(args), sin(args)], dim: 1);                               // (N, 2*half)
        if (dim % 2 == 1) emb = cat([emb, zeros_like(emb[.., ..1])], dim: 1);        // (N, dim)
        return emb.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The reference's get_2d_sincos_pos_embed in float64: (gridSize^2, embedDim), tokens row-major over (row, column);
    /// the first half of the channels encodes the column index, the second the row, each half [sin | cos] with
    /// omega_i = 1 / 10000^(i / (embedDim / 4)).
    /// </summary>
    public static Tensor SinCosPositionTable(int embedDim, int gridSize)
    {
        if (embedDim % 4 != 0) throw new ArgumentException($"The 2-D sin-cos table needs an embedding size divisible by 4, got {embedDim}.", nameof(embedDim));
        using var scope = NewDisposeScope();
        var token = KeptScalars.Range(gridSize * gridSize, ScalarType.Float64);                // (T)
        var column = token.Remainder(gridSize);                                     // (T)
        var row = token.FloorDividedBy(gridSize);           // (T)
        return cat([SinCos1D(embedDim / 2, column), SinCos1D(embedDim / 2, row)], dim: 1).MoveToOuterDisposeScope(); // (T, D)
    }

    static Tensor SinCos1D(int embedDim, Tensor positions)
    {
        var omega = KeptScalars.Range(embedDim / 2, ScalarType.Float64).DividedBy(embedDim / 2.0);    // (D/2)
        omega = pow(tensor(10000.0), omega).reciprocal();                           // (D/2)
        var args = positions.unsqueeze(1) * omega.unsqueeze(0);                     // (T, D/2)
        return cat([sin(args), cos(args)], dim: 1);                                  // (T, D)
    }
}
