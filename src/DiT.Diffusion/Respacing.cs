using System.Globalization;

namespace DiT.Diffusion;

/// <summary>
/// Which of the base timesteps a shortened process keeps (the reference's space_timesteps), quirks included:
/// Python round() is ties-to-even on an accumulated float, and "ddimN" is range(0, T, stride) so it never holds T-1.
/// "linspaceN" is diffusers' DPMSolverMultistepScheduler spacing: round(linspace(0, T-1, N+1)) without the 0.
/// </summary>
public static class Respacing
{
    /// <summary>
    /// The kept base timesteps, ascending. "" keeps all; "25" or "10,20" give step counts per equal section; "ddim25" a
    /// fixed stride; "linspace20" diffusers' linspace spacing (see <see cref="Linspace"/>).
    /// </summary>
    public static int[] Space(int numSteps, string spec)
    {
        if (numSteps < 1) throw new ArgumentOutOfRangeException(nameof(numSteps), numSteps, "The base process needs at least one step.");
        spec = (spec ?? "").Trim();
        if (spec.Length == 0) return Enumerable.Range(0, numSteps).ToArray();
        if (spec.StartsWith("ddim", StringComparison.Ordinal)) return DdimStride(numSteps, ParseCount(spec["ddim".Length..], spec));
        if (spec.StartsWith("linspace", StringComparison.Ordinal)) return Linspace(numSteps, ParseCount(spec["linspace".Length..], spec));
        return Sections(numSteps, spec.Split(',').Select(s => ParseCount(s, spec)).ToArray());
    }

    /// <summary>
    /// diffusers' DPMSolverMultistepScheduler timesteps for timestep_spacing "linspace", ascending:
    /// round(linspace(0, T - 1, count + 1)) with numpy's round (ties to even) and the leading 0 dropped, so the
    /// noisiest step is T - 1 and 0 is never a model timestep (the solver's last step goes to sigma = 0 instead).
    /// At most T - 1 steps: above that two points round to the same timestep.
    /// </summary>
    public static int[] Linspace(int numSteps, int count)
    {
        if (count > numSteps - 1)
            throw new ArgumentException($"Respacing 'linspace{count}': at most {numSteps - 1} steps (timesteps 1..{numSteps - 1}); more would repeat a timestep.");
        double step = (numSteps - 1) / (double)count; // numpy.linspace: i * step + start, the last point set to stop
        return Enumerable.Range(1, count).Select(i => i == count ? numSteps - 1 : (int)Math.Round(i * step, MidpointRounding.ToEven)).ToArray();
    }

    /// <summary>True when "ddimN" exists for this N: some integer stride gives exactly N steps.</summary>
    public static bool HasDdimStride(int numSteps, int count) =>
        Enumerable.Range(1, Math.Max(0, numSteps - 1)).Any(stride => StepsWithStride(numSteps, stride) == count);

    static int[] DdimStride(int numSteps, int count)
    {
        for (int stride = 1; stride < numSteps; stride++)
            if (StepsWithStride(numSteps, stride) == count)
                return Enumerable.Range(0, count).Select(i => i * stride).ToArray();
        throw new ArgumentException($"Respacing 'ddim{count}': no integer stride gives exactly {count} of {numSteps} steps; use a plain count such as '{count}'.");
    }

    static int StepsWithStride(int numSteps, int stride) => (numSteps + stride - 1) / stride;

    static int[] Sections(int numSteps, int[] counts)
    {
        int sizePer = numSteps / counts.Length, extra = numSteps % counts.Length, start = 0;
        var kept = new SortedSet<int>();
        for (int i = 0; i < counts.Length; i++)
        {
            int size = sizePer + (i < extra ? 1 : 0), count = counts[i];
            if (size < count) throw new ArgumentException($"Respacing: section {i + 1} has {size} steps and cannot keep {count}.");
            double stride = count <= 1 ? 1 : (size - 1) / (double)(count - 1);
            double cur = 0;
            for (int k = 0; k < count; k++, cur += stride)
                kept.Add(start + (int)Math.Round(cur, MidpointRounding.ToEven)); // Python round(): ties to even
            start += size;
        }
        return kept.ToArray();
    }

    static int ParseCount(string text, string spec) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 ? n
            : throw new ArgumentException($"Respacing '{spec}' is not valid: expected '' , a step count such as '250', comma-separated counts such as '10,20', 'ddimN' or 'linspaceN'.");
}
