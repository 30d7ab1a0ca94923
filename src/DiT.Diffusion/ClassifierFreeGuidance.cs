using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion;

/// <summary>Which output channels classifier-free guidance mixes.</summary>
public enum GuidanceMode
{
    /// <summary>Every epsilon channel (the first inChannels); the default for new work.</summary>
    AllChannels,
    /// <summary>DiT's forward_with_cfg: only channels [:3] (a hard-coded 3), the rest unguided from the cond rows.</summary>
    Reference,
}

/// <summary>How guidance lays out its model batch: rows [0, Rows) are the conditional passes of the sampler's rows in
/// order, row Rows + g the unconditional pass of sampler row UnconditionalOf[g].</summary>
public sealed record GuidedBatchLayout(int Rows, long[] UnconditionalOf);

/// <summary>The class-conditional model (x, t, y) -> output, told which sampler row and branch each model row serves
/// (for per-row state kept across steps, such as step caches).</summary>
public delegate Tensor GuidedModel(Tensor x, Tensor t, Tensor y, GuidedBatchLayout layout);

/// <summary>
/// Classifier-free guidance as a model wrapper: eps = uncond + s (cond - uncond) per row, in one batched forward
/// holding the cond rows and one null-class row per row guided at this call: its scale is not 1 and, when it has a
/// guidance interval, its noise level lies inside it. Other rows are the plain conditional output; unguided channels
/// (learned sigma, and channel 3+ in Reference mode) come from the cond rows.
/// </summary>
public static class ClassifierFreeGuidance
{
    /// <param name="model">The class-conditional model (x, t, y) -> output.</param>
    /// <param name="classes">Class id per row (N) int64; read once, here (the wrapper keeps the ids on the host).</param>
    /// <param name="scales">Guidance scale per row (N); 1 means no guidance (and no extra forward rows).</param>
    /// <param name="nullClass">The class id the model was trained to treat as "no class" (num_classes for DiT).</param>
    /// <param name="inChannels">Latent channels C (the epsilon half of a learned-sigma output).</param>
    /// <param name="intervals">Per-row guidance intervals (N); null guides every row at every step.</param>
    public static Denoiser Wrap(Func<Tensor, Tensor, Tensor, Tensor> model, Tensor classes, Tensor scales, long nullClass, int inChannels, GuidanceMode mode,
        GuidanceIntervals? intervals = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Wrap((x, t, y, _) => model(x, t, y), classes, scales, nullClass, inChannels, mode, intervals);
    }

    /// <summary>The same, for a model that is told the layout of every model batch.</summary>
    public static Denoiser Wrap(GuidedModel model, Tensor classes, Tensor scales, long nullClass, int inChannels, GuidanceMode mode,
        GuidanceIntervals? intervals = null)
    {
        if (classes.dim() != 1 || scales.dim() != 1 || classes.shape[0] != scales.shape[0])
            throw new ArgumentException($"classes and scales must both be (N); got [{string.Join(", ", classes.shape)}] and [{string.Join(", ", scales.shape)}].");
        using var scope = NewDisposeScope();
        return Wrap(model, classes.to(ScalarType.Int64).cpu().data<long>().ToArray(), scales.to(ScalarType.Float32).cpu().data<float>().ToArray(),
            nullClass, inChannels, mode, intervals);
    }

    /// <summary>The same with the rows' classes and scales on the host, where they stay: each call sends the classes
    /// and the scales of the rows it guides to the model's device once.</summary>
    public static Denoiser Wrap(GuidedModel model, long[] classes, float[] hostScales, long nullClass, int inChannels, GuidanceMode mode,
        GuidanceIntervals? intervals = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (classes.Length != hostScales.Length)
            throw new ArgumentException($"{classes.Length} classes for {hostScales.Length} guidance scales.");
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be >= 1.");
        if (intervals is not null && intervals.Count != classes.Length)
            throw new ArgumentException($"{intervals.Count} guidance intervals for {classes.Length} rows.", nameof(intervals));
        long guidedChannels = mode == GuidanceMode.Reference ? Math.Min(3, inChannels) : inChannels;
        int[] scaled = Enumerable.Range(0, hostScales.Length).Where(i => hostScales[i] != 1f).ToArray();
        if (intervals is { IsEmpty: true }) intervals = null;

        return (x, t) =>
        {
            if (x.shape[0] != hostScales.Length || t.shape[0] != hostScales.Length)
                throw new ArgumentException($"Guided model built for {hostScales.Length} rows was called with x of {x.shape[0]} and t of {t.shape[0]}.");
            using var scope = NewDisposeScope();
            long[] guidedRows = GuidedRows(scaled, intervals, t);
            var layout = new GuidedBatchLayout(hostScales.Length, guidedRows);
            var y = tensor(classes, ScalarType.Int64, x.device);                                     // (N)
            if (guidedRows.Length == 0) return model(x, t, y, layout).MoveToOuterDisposeScope();
            var rows = tensor(guidedRows, ScalarType.Int64, x.device);
            var xAll = cat([x, x.index_select(0, rows)], 0);                                      // (N + G, C, H, W)
            var tAll = cat([t, t.index_select(0, rows)], 0);                                      // (N + G)
            var yAll = cat([y, KeptScalars.Full([guidedRows.Length], nullClass, ScalarType.Int64, x.device)], 0);
            var output = model(xAll, tAll, yAll, layout);                                         // (N + G, C', H, W)
            long n = x.shape[0];
            var cond = output.narrow(0, 0, n);                                                    // (N, C', H, W)
            var uncondGuided = output.narrow(0, n, guidedRows.Length);                            // (G, C', H, W)
            var uncond = cond.index_copy(0, rows, uncondGuided);                                  // cond where unguided
            var s = GaussianDiffusion.RowTensor(hostScales, x).to(output.dtype);                  // (N, 1, 1, 1)
            var condEps = cond.narrow(1, 0, guidedChannels);
            var uncondEps = uncond.narrow(1, 0, guidedChannels);
            var guided = uncondEps.Plus(s * (condEps - uncondEps));                                   // (N, g, H, W)
            var mask = new float[n];
            foreach (var row in guidedRows) mask[row] = 1;
            var isGuided = GaussianDiffusion.RowTensor(mask, x).to(ScalarType.Bool);
            guided = where(isGuided, guided, condEps);
            var rest = cond.narrow(1, guidedChannels, cond.shape[1] - guidedChannels);
            return cat([guided, rest], 1).MoveToOuterDisposeScope();                             // (N, C', H, W)
        };
    }

    /// <summary>The rows guided at this call: scale not 1, and the row's noise level inside its interval (if it has one).</summary>
    static long[] GuidedRows(int[] scaled, GuidanceIntervals? intervals, Tensor t)
    {
        if (intervals is null || scaled.Length == 0) return scaled.Select(i => (long)i).ToArray();
        var timesteps = t.to(ScalarType.Int64).cpu().data<long>().ToArray();
        return scaled.Where(i => intervals.Guides(i, timesteps[i])).Select(i => (long)i).ToArray();
    }
}
