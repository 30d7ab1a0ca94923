namespace DiT.Diffusion;

/// <summary>
/// How the Gaussian diffusion process is built, with DiT's training defaults (create_diffusion):
/// 1000 linear steps, epsilon prediction, learned-range variance.
/// </summary>
/// <param name="Steps">Base (training) steps the betas are defined over.</param>
/// <param name="Schedule">"linear" (DiT) or "cosine" (squaredcos_cap_v2).</param>
/// <param name="Respacing">"" (all steps), "250", "10,20" (per-section counts), "ddimN" or "linspaceN"; see <see cref="Respacing"/>.</param>
/// <param name="LearnSigma">The model emits 2C channels: epsilon then the variance interpolation v.</param>
/// <param name="SigmaSmall">Without learned sigma: posterior variance (fixed small) instead of beta (fixed large).</param>
/// <param name="PredictXStart">The model predicts x0 instead of epsilon.</param>
public sealed record DiffusionOptions(
    int Steps = 1000,
    string Schedule = "linear",
    string Respacing = "",
    bool LearnSigma = true,
    bool SigmaSmall = false,
    bool PredictXStart = false);
