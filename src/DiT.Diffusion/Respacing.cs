using System.Globalization;

namespace DiT.Diffusion;

/// <summary>
/// Which of the base timesteps a shortened process keeps (the reference's space_timesteps), quirks included:
/// Python round() is ties-to-even on an accumulated float, and "ddimN" is range(0, T, stride) so it never holds T-1.
/// </summary>
public static class Respacing
{
    /// <summary>The kept base timesteps, ascending. "" keeps all; "25" or "10,20" give step counts per equal section; "ddim25" a fixed stride.</summary>
    public static int[] Space(int numSteps, string spec)
    {
        if (numSteps < 1) throw new ArgumentOutOfRangeException(nameof(numSteps), numSteps, "The base process needs at least one step.");
        spec = (spec ?? "").Trim();
        if (spec.Length == 0) return Enumerable.Range(0, numSteps).ToArray();
        if (spec.StartsWith("ddim", StringComparison.Ordinal)) return DdimStride(numSteps, ParseCount(spec["ddim".Length..], spec));
        return Sections(numSteps, spec.Split(',').Select(s => ParseCount(s, spec)).ToArray());
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
            : throw new ArgumentException($"Respacing '{spec}' is not valid: expected '' , a step count such as '250', comma-separated counts such as '10,20', or 'ddimN'.");
}
