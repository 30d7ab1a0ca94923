// The Stable Diffusion VAE (diffusers AutoencoderKL, the architecture of stabilityai/sd-vae-ft-mse).
// Field names are the state-dict keys of the published diffusion_pytorch_model.safetensors, so they stay snake_case.
#pragma warning disable IDE1006 // naming: fields mirror PyTorch keys
using DiT.Model.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using static TorchSharp.torch.nn.functional;

namespace DiT.Model;

// ------------------------------------------------------------------------------------------------
// Building blocks (diffusers resnet.py, attention_processor.py, unet_2d_blocks.py)
// ------------------------------------------------------------------------------------------------

/// <summary>GroupNorm -> SiLU -> 3x3 conv, twice, plus a 1x1-conv shortcut when the width changes.</summary>
internal sealed class ResnetBlock2D : Module<Tensor, Tensor>
{
    const double Eps = 1e-6;
    readonly GroupNorm norm1, norm2;
    readonly Conv2d conv1, conv2;
    readonly Conv2d? conv_shortcut;

    public ResnetBlock2D(long inChannels, long outChannels, long groups) : base(nameof(ResnetBlock2D))
    {
        norm1 = GroupNorm(groups, inChannels, Eps);
        conv1 = Conv2d(inChannels, outChannels, 3, padding: 1);
        norm2 = GroupNorm(groups, outChannels, Eps);
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();                                    // frees the block's temporaries at once
        var h = conv1.ForwardWithWholeBlocks(silu(norm1.forward(x)));           // (N, C_out, H, W)
        h = conv2.ForwardWithWholeBlocks(silu(norm2.forward(h)));               // (N, C_out, H, W)
        var shortcut = conv_shortcut is null ? x : conv_shortcut.ForwardWithWholeBlocks(x); // (N, C_out, H, W)
        return shortcut.Plus(h).MoveToOuterDisposeScope();                       // (N, C_out, H, W)
    }
}

/// <summary>Single-head self-attention over the H*W positions with a residual (diffusers Attention, heads = 1).</summary>
internal sealed class AttentionBlock : Module<Tensor, Tensor>
{
    readonly GroupNorm group_norm;
    readonly Linear to_q, to_k, to_v;
    readonly ModuleList<Module<Tensor, Tensor>> to_out;                         // [Linear, Dropout] in diffusers; only .0 has weights

    public AttentionBlock(long channels, long groups) : base(nameof(AttentionBlock))
    {
        group_norm = GroupNorm(groups, channels, 1e-6);
        to_q = Linear(channels, channels);
        to_k = Linear(channels, channels);
        to_v = Linear(channels, channels);
        to_out = new ModuleList<Module<Tensor, Tensor>>(Linear(channels, channels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (n, c, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var h = group_norm.forward(x).reshape(n, c, height * width).transpose(1, 2);   // (N, T, C), T = H*W
        var q = to_q.forward(h).unsqueeze(1);                                         // (N, 1, T, C)
        var k = to_k.forward(h).unsqueeze(1);                                         // (N, 1, T, C)
        var v = to_v.forward(h).unsqueeze(1);                                         // (N, 1, T, C)
        var a = scaled_dot_product_attention(q, k, v).squeeze(1);                     // (N, T, C), softmax(q k^T / sqrt(C)) v
        var o = to_out[0].forward(a);                                                 // (N, T, C)
        return o.transpose(1, 2).reshape(n, c, height, width).Plus(x)                  // (N, C, H, W)
            .MoveToOuterDisposeScope();
    }
}

/// <summary>resnet -> (attention -> resnet): the bottleneck of both encoder and decoder.</summary>
internal sealed class UNetMidBlock2D : Module<Tensor, Tensor>
{
    readonly ModuleList<AttentionBlock> attentions;
    readonly ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock2D(long channels, long groups, bool addAttention) : base(nameof(UNetMidBlock2D))
    {
        attentions = addAttention ? new ModuleList<AttentionBlock>(new AttentionBlock(channels, groups)) : new ModuleList<AttentionBlock>();
        resnets = new ModuleList<ResnetBlock2D>(new ResnetBlock2D(channels, channels, groups), new ResnetBlock2D(channels, channels, groups));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = resnets[0].forward(x);                                          // (N, C, H, W)
        if (attentions.Count > 0) h = attentions[0].forward(h);                 // (N, C, H, W)
        return resnets[1].forward(h).MoveToOuterDisposeScope();                 // (N, C, H, W)
    }
}

/// <summary>Pad right/bottom by one, then a stride-2 3x3 conv without padding: H -> floor(H/2).</summary>
internal sealed class Downsample2D : Module<Tensor, Tensor>
{
    readonly Conv2d conv;

    public Downsample2D(long channels) : base(nameof(Downsample2D))
    {
        conv = Conv2d(channels, channels, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var padded = pad(x, [0, 1, 0, 1]);                                // (N, C, H+1, W+1)
        return conv.ForwardWithWholeBlocks(padded);                             // (N, C, H/2, W/2)
    }
}

/// <summary>Nearest-neighbour x2, then a 3x3 conv.</summary>
internal sealed class Upsample2D : Module<Tensor, Tensor>
{
    readonly Conv2d conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var up = interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);   // (N, C, 2H, 2W)
        return conv.ForwardWithWholeBlocks(up);                                                     // (N, C, 2H, 2W)
    }
}

/// <summary>DownEncoderBlock2D: resnets, then a Downsample2D except in the last block.</summary>
internal sealed class DownEncoderBlock2D : Module<Tensor, Tensor>
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Downsample2D> downsamplers;

    public DownEncoderBlock2D(long inChannels, long outChannels, int layers, long groups, bool downsample) : base(nameof(DownEncoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, groups)).ToArray());
        downsamplers = downsample ? new ModuleList<Downsample2D>(new Downsample2D(outChannels)) : new ModuleList<Downsample2D>();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var resnet in resnets) h = resnet.forward(h);                  // (N, C_out, H, W)
        foreach (var down in downsamplers) h = down.forward(h);                 // (N, C_out, H/2, W/2)
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>UpDecoderBlock2D: layers_per_block + 1 resnets, then an Upsample2D except in the last block.</summary>
internal sealed class UpDecoderBlock2D : Module<Tensor, Tensor>
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Upsample2D> upsamplers;

    public UpDecoderBlock2D(long inChannels, long outChannels, int layers, long groups, bool upsample) : base(nameof(UpDecoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, groups)).ToArray());
        upsamplers = upsample ? new ModuleList<Upsample2D>(new Upsample2D(outChannels)) : new ModuleList<Upsample2D>();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var resnet in resnets) h = resnet.forward(h);                  // (N, C_out, H, W)
        foreach (var up in upsamplers) h = up.forward(h);                       // (N, C_out, 2H, 2W)
        return h.MoveToOuterDisposeScope();
    }
}

// ------------------------------------------------------------------------------------------------
// Encoder and decoder (diffusers autoencoders/vae.py)
// ------------------------------------------------------------------------------------------------

/// <summary>Image (N, C_img, H, W) -> moments (N, 2*C_lat, H/f, W/f): mean and log-variance stacked on channels.</summary>
internal sealed class VaeEncoder : Module<Tensor, Tensor>
{
    readonly Conv2d conv_in, conv_out;
    readonly ModuleList<DownEncoderBlock2D> down_blocks;
    readonly UNetMidBlock2D mid_block;
    readonly GroupNorm conv_norm_out;

    public VaeEncoder(AutoencoderKLConfig c) : base(nameof(VaeEncoder))
    {
        var widths = c.BlockOutChannels;
        conv_in = Conv2d(c.InChannels, widths[0], 3, padding: 1);
        down_blocks = new ModuleList<DownEncoderBlock2D>(widths.Select((w, i) =>
            new DownEncoderBlock2D(i == 0 ? widths[0] : widths[i - 1], w, c.LayersPerBlock, c.NormNumGroups, downsample: i < widths.Length - 1)).ToArray());
        mid_block = new UNetMidBlock2D(widths[^1], c.NormNumGroups, c.MidBlockAddAttention);
        conv_norm_out = GroupNorm(c.NormNumGroups, widths[^1], 1e-6);
        conv_out = Conv2d(widths[^1], 2 * c.LatentChannels, 3, padding: 1);    // double_z: mean and logvar
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.ForwardWithWholeBlocks(x);                              // (N, C_0, H, W)
        foreach (var block in down_blocks) h = block.forward(h);                // (N, C_last, H/f, W/f)
        h = mid_block.forward(h);                                               // (N, C_last, H/f, W/f)
        h = silu(conv_norm_out.forward(h));                                     // (N, C_last, H/f, W/f)
        return conv_out.ForwardWithWholeBlocks(h).MoveToOuterDisposeScope();    // (N, 2*C_lat, H/f, W/f)
    }
}

/// <summary>Latent (N, C_lat, h, w) -> image (N, C_img, h*f, w*f); up blocks run in reversed channel order.</summary>
internal sealed class VaeDecoder : Module<Tensor, Tensor>
{
    readonly Conv2d conv_in, conv_out;
    readonly UNetMidBlock2D mid_block;
    readonly ModuleList<UpDecoderBlock2D> up_blocks;
    readonly GroupNorm conv_norm_out;

    public VaeDecoder(AutoencoderKLConfig c) : base(nameof(VaeDecoder))
    {
        var widths = c.BlockOutChannels.Reverse().ToArray();
        conv_in = Conv2d(c.LatentChannels, widths[0], 3, padding: 1);
        mid_block = new UNetMidBlock2D(widths[0], c.NormNumGroups, c.MidBlockAddAttention);
        up_blocks = new ModuleList<UpDecoderBlock2D>(widths.Select((w, i) =>
            new UpDecoderBlock2D(i == 0 ? widths[0] : widths[i - 1], w, c.LayersPerBlock + 1, c.NormNumGroups, upsample: i < widths.Length - 1)).ToArray());
        conv_norm_out = GroupNorm(c.NormNumGroups, widths[^1], 1e-6);
        conv_out = Conv2d(widths[^1], c.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.ForwardWithWholeBlocks(z);                              // (N, C_last, h, w)
        h = mid_block.forward(h);                                               // (N, C_last, h, w)
        foreach (var block in up_blocks) h = block.forward(h);                  // (N, C_0, h*f, w*f)
        h = silu(conv_norm_out.forward(h));                                     // (N, C_0, h*f, w*f)
        return conv_out.ForwardWithWholeBlocks(h).MoveToOuterDisposeScope();    // (N, C_img, h*f, w*f)
    }
}

// ------------------------------------------------------------------------------------------------
// Posterior (diffusers DiagonalGaussianDistribution)
// ------------------------------------------------------------------------------------------------

/// <summary>The encoder's diagonal Gaussian over latents; owns its tensors (dispose it).</summary>
public sealed class LatentDistribution : IDisposable
{
    /// <summary>(N, C_lat, h, w)</summary>
    public Tensor Mean { get; }

    /// <summary>(N, C_lat, h, w), clamped to [-30, 20] as diffusers does.</summary>
    public Tensor LogVar { get; }

    /// <summary>exp(0.5 * logvar)</summary>
    public Tensor Std { get; }

    /// <summary>exp(logvar)</summary>
    public Tensor Var { get; }

    /// <summary>Splits (N, 2*C_lat, h, w) moments into mean and log-variance.</summary>
    public LatentDistribution(Tensor moments)
    {
        var parts = moments.chunk(2, dim: 1);
        Mean = parts[0];                                                        // (N, C_lat, h, w)
        LogVar = parts[1].Clamped(-30.0, 20.0);                                   // (N, C_lat, h, w)
        parts[1].Dispose();
        Std = LogVar.Times(0.5).exp_();                                           // (N, C_lat, h, w)
        Var = LogVar.exp();                                                     // (N, C_lat, h, w)
    }

    /// <summary>mean + std * noise with noise ~ N(0, 1) drawn from <paramref name="generator"/> (or the global one).</summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var noise = generator is null
            ? randn_like(Mean)
            : randn(Mean.shape, Mean.dtype, generator.device, generator: generator);
        return Sample(noise);
    }

    /// <summary>mean + std * noise for given standard-normal noise shaped like the mean.</summary>
    public Tensor Sample(Tensor noise)
    {
        using var scope = NewDisposeScope();
        return Mean.Plus(Std.mul(noise.to(Mean.dtype, Mean.device))).MoveToOuterDisposeScope();
    }

    /// <summary>The mean (a new handle; disposing it leaves this distribution intact).</summary>
    public Tensor Mode() => Mean.alias();

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
        Std.Dispose();
        Var.Dispose();
    }
}

// ------------------------------------------------------------------------------------------------
// AutoencoderKL
// ------------------------------------------------------------------------------------------------

/// <summary>
/// diffusers AutoencoderKL: encoder -> quant_conv -> diagonal Gaussian; post_quant_conv -> decoder.
/// Batches run in slices of <see cref="SliceSize"/> so the activation memory stays bounded.
/// Loading: <see cref="Load"/> (AutoencoderKLLoading.cs).
/// </summary>
public sealed partial class AutoencoderKL : Module<Tensor, Tensor>, IAutoencoder
{
    readonly VaeEncoder encoder;
    readonly VaeDecoder decoder;
    readonly Conv2d? quant_conv, post_quant_conv;
    int _sliceSize = 8;

    public AutoencoderKLConfig Config { get; }

    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        config.Validate("AutoencoderKL config");
        Config = config;
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        int moments = 2 * config.LatentChannels;
        if (config.UseQuantConv) quant_conv = Conv2d(moments, moments, 1);
        if (config.UsePostQuantConv) post_quant_conv = Conv2d(config.LatentChannels, config.LatentChannels, 1);
        RegisterComponents();
        InitGroupNorms();
    }

    /// <summary>
    /// weight 1, bias 0 in every GroupNorm, as torch.nn.GroupNorm starts: TorchSharp 0.107's GroupNorm leaves its affine
    /// parameters uninitialised (whatever the memory held, NaN included), which a loaded checkpoint overwrites but a
    /// VAE trained from scratch (or a test on random weights) would start from.
    /// </summary>
    void InitGroupNorms()
    {
        using var _ = no_grad();
        foreach (var (_, module) in named_modules())
        {
            if (module is not GroupNorm norm) continue;
            if (norm.weight is { } w) { using var one = ones_like(w); w.copy_(one); }
            if (norm.bias is { } b) { using var zero = zeros_like(b); b.copy_(zero); }
        }
    }

    /// <summary>Images per encoder/decoder pass; larger batches are split. At least 1.</summary>
    public int SliceSize
    {
        get => _sliceSize;
        set => _sliceSize = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(SliceSize), value, "The VAE slice size must be at least 1.");
    }

    public int DownsampleFactor => Config.DownsampleFactor;
    public int LatentChannels => Config.LatentChannels;
    public int ImageChannels => Config.InChannels;
    public double ScalingFactor => Config.ScalingFactor;

    /// <summary>(N, C_img, H, W) -> the latent posterior (unscaled), as diffusers' encode(x).latent_dist.</summary>
    public LatentDistribution Encode(Tensor x)
    {
        using var moments = InSlices(x, slice =>
        {
            var h = encoder.forward(slice);                                     // (n, 2*C_lat, H/f, W/f)
            return quant_conv is null ? h : quant_conv.ForwardWithWholeBlocks(h); // (n, 2*C_lat, H/f, W/f)
        });
        return new LatentDistribution(moments);
    }

    /// <summary>(N, C_lat, h, w) unscaled latents -> (N, C_img, h*f, w*f) images, unclamped, as diffusers' decode(z).sample.</summary>
    public Tensor Decode(Tensor z) => InSlices(z, slice =>
    {
        var h = post_quant_conv is null ? slice : post_quant_conv.ForwardWithWholeBlocks(slice); // (n, C_lat, h, w)
        return decoder.forward(h);                                                // (n, C_img, h*f, w*f)
    });

    /// <summary>decode(posterior.mode()), as diffusers' forward(x) with sample_posterior = False.</summary>
    public override Tensor forward(Tensor x)
    {
        using var posterior = Encode(x);
        using var mode = posterior.Mode();                                      // (N, C_lat, H/f, W/f)
        return Decode(mode);                                                    // (N, C_img, H, W)
    }

    public Tensor DecodeLatents(Tensor latents)
    {
        CheckShape(latents, LatentChannels, "latents");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var p = parameters().First();
        var z = latents.to(p.dtype, p.device).DividedBy(ScalingFactor);             // (N, C_lat, h, w), as sample.py: latents / 0.18215
        return Decode(z).ClampedInPlace(-1.0, 1.0).MoveToOuterDisposeScope();          // (N, C_img, h*f, w*f)
    }

    public Tensor EncodeToLatents(Tensor images, Generator? generator = null)
    {
        CheckShape(images, ImageChannels, "images");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var p = parameters().First();
        using var posterior = Encode(images.to(p.dtype, p.device));
        return posterior.Sample(generator).TimesInPlace(ScalingFactor)                  // (N, C_lat, H/f, W/f)
            .MoveToOuterDisposeScope();
    }

    /// <summary>Runs <paramref name="pass"/> on batch slices of at most SliceSize, each in its own dispose scope, and concatenates.</summary>
    Tensor InSlices(Tensor x, Func<Tensor, Tensor> pass)
    {
        long n = x.shape[0];
        if (n <= SliceSize)
        {
            using var scope = NewDisposeScope();
            return pass(x).MoveToOuterDisposeScope();
        }
        var parts = new List<Tensor>();
        try
        {
            for (long start = 0; start < n; start += SliceSize)
            {
                using var scope = NewDisposeScope();
                using var slice = x.narrow(0, start, Math.Min(SliceSize, n - start));
                parts.Add(pass(slice).MoveToOuterDisposeScope());
            }
            return cat(parts, 0);
        }
        finally
        {
            StateDicts.DisposeAll(parts);
        }
    }

    static void CheckShape(Tensor x, int channels, string what)
    {
        if (x.dim() != 4 || x.shape[1] != channels)
            throw new ArgumentException($"Expected {what} shaped (N, {channels}, H, W); got [{string.Join(", ", x.shape)}].", what);
        if (!x.is_floating_point())
            throw new ArgumentException($"Expected floating-point {what}; got {x.dtype}.", what);
    }
}
