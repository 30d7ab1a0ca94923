using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.StepCaching;

/// <summary>The DiT forward with a step cache per row: the transformer stack runs only for rows that need it.</summary>
public static class StepCachedForward
{
    /// <summary>
    /// x (N, C, H, W), t (N), y (N), one slot per row -> (N, C_out, H, W). Rows whose slot asks for a full pass run
    /// the stack together and refresh their residual; the others add their slot's residual estimate to their own input
    /// tokens. The embeddings and the final layer always run on every row (they read this step's x, t and y). When no
    /// slot ever reuses, this is <see cref="DiTModel.forward"/> itself; when every row runs in full, it is bit for bit
    /// the same as it.
    /// </summary>
    public static Tensor Forward(this DiTModel model, Tensor x, Tensor t, Tensor y, IReadOnlyList<StepCacheSlot> slots)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(slots);
        if (slots.Count != x.shape[0]) throw new ArgumentException($"{slots.Count} step cache slots for a batch of {x.shape[0]} rows.", nameof(slots));
        if (!slots.Any(s => s.Reuses))
        {
            foreach (var slot in slots) slot.BeginPass(probe: null);
            return model.forward(x, t, y);
        }

        using var scope = NewDisposeScope();
        var (h, siluC) = model.Embed(x, t, y);                                       // (N, T, D), (N, D)
        var probe = slots.Any(s => s.WantsProbe) ? model.FirstBlockModulatedInput(h, siluC) : null; // (N, T, D)
        var full = new List<int>();
        for (int i = 0; i < slots.Count; i++)
            if (slots[i].BeginPass(probe?.narrow(0, i, 1))) full.Add(i);

        Tensor stack;                                                                // (N, T, D) the stack's output (or estimate) per row
        if (full.Count == slots.Count)
        {
            stack = model.Blocks(h, siluC);
            for (int i = 0; i < slots.Count; i++) Refresh(slots[i], stack.narrow(0, i, 1), h.narrow(0, i, 1));
        }
        else
        {
            var rows = new Tensor[slots.Count];                                      // N x (1, T, D)
            if (full.Count > 0)
            {
                var index = tensor(full.Select(i => (long)i).ToArray(), ScalarType.Int64, h.device); // (F)
                var input = h.index_select(0, index);                                // (F, T, D)
                var output = model.Blocks(input, siluC.index_select(0, index));      // (F, T, D)
                for (int j = 0; j < full.Count; j++)
                {
                    rows[full[j]] = output.narrow(0, j, 1);
                    Refresh(slots[full[j]], rows[full[j]], input.narrow(0, j, 1));
                }
            }
            for (int i = 0; i < rows.Length; i++)
                rows[i] ??= h.narrow(0, i, 1).Plus(slots[i].EstimateResidual());        // (1, T, D) input + cached residual
            stack = cat(rows, 0);
        }
        return model.Head(stack, siluC).MoveToOuterDisposeScope();                   // (N, C_out, H, W)
    }

    static void Refresh(StepCacheSlot slot, Tensor output, Tensor input)
    {
        if (!slot.Reuses) return;
        using var scope = NewDisposeScope();
        slot.Refresh(output - input);                                                // (1, T, D) residual
    }
}
