using System.Collections.Concurrent;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Diffusion.Tests;

/// <summary>The golden DiT models (random but non-trivial weights), loaded once per test run.</summary>
static class DiTModels
{
    static readonly ConcurrentDictionary<string, Lazy<DiTModel>> Cache = new();

    /// <summary>
    /// Loaded on a thread of its own: dispose scopes are per thread, and a model built inside a test's scope loses
    /// its pos_embed when that scope ends (new DiTModel registers it in the current scope).
    /// </summary>
    public static DiTModel Load(string weightsFile) =>
        Cache.GetOrAdd(weightsFile, f => new Lazy<DiTModel>(() => OutsideAnyDisposeScope(() => DiTCheckpoint.Load(Golden.Default.PathOf(f))))).Value;

    static T OutsideAnyDisposeScope<T>(Func<T> create)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() => { try { result = create(); } catch (Exception e) { error = e; } });
        thread.Start();
        thread.Join();
        return error is null ? result : throw new InvalidOperationException("Loading a golden model failed.", error);
    }

    /// <summary>The DiT of a case's "weights" entry.</summary>
    public static DiTModel Of(GoldenCase c) => Load(c.Node["weights"]!["safetensors"]!.GetValue<string>());

    /// <summary>DiT A: 8x8x4 latents, learned sigma, 10 classes (null class 10).</summary>
    public static DiTModel A => Load("dit_A_weights.safetensors");

    public static Func<Tensor, Tensor, Tensor, Tensor> Forward(DiTModel model) => (x, t, y) => model.forward(x, t, y);

    /// <summary>The class-conditional model with the case's labels y, as p_mean_variance sees it.</summary>
    public static Denoiser Conditional(GoldenCase c)
    {
        var model = Of(c);
        var y = c.Input("y");
        return (x, t) => model.forward(x, t, y);
    }
}
