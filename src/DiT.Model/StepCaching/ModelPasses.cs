namespace DiT.Model.StepCaching;

/// <summary>Model calls of one or more rows: Full ran the transformer stack, Cached reused an estimate of its residual.</summary>
public readonly record struct ModelPasses(int Full, int Cached)
{
    public int Total => Full + Cached;

    public static ModelPasses operator +(ModelPasses a, ModelPasses b) => new(a.Full + b.Full, a.Cached + b.Cached);

    /// <summary>"full/total", the X-Model-Passes header.</summary>
    public override string ToString() => $"{Full}/{Total}";
}
