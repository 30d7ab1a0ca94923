using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiT.Training.Checkpoints;

/// <summary>
/// <see cref="AdamWOptimizer"/> keeps one state (step, exp_avg, exp_avg_sq) per parameter, in the order the
/// parameters were given. These helpers name them after the parameters
/// ("&lt;param&gt;.exp_avg", "&lt;param&gt;.exp_avg_sq", "&lt;param&gt;.step") so the state can live in a safetensors file.
/// </summary>
public static class AdamWState
{
    public static Dictionary<string, Tensor> Export(AdamWOptimizer optimizer, IReadOnlyList<(string name, Parameter parameter)> parameters)
    {
        var states = StatesOf(optimizer, parameters);
        var result = new Dictionary<string, Tensor>();
        for (int i = 0; i < parameters.Count; i++)
        {
            var name = parameters[i].name;
            result[name + ".exp_avg"] = states[i].ExpAvg.detach();
            result[name + ".exp_avg_sq"] = states[i].ExpAvgSq.detach();
            result[name + ".step"] = tensor(states[i].Step);
        }
        return result;
    }

    /// <summary>Copies saved moments and step counts into the optimizer's own state tensors; every parameter must be present with its shape.</summary>
    public static void Import(AdamWOptimizer optimizer, IReadOnlyList<(string name, Parameter parameter)> parameters, IReadOnlyDictionary<string, Tensor> saved, string source)
    {
        var states = StatesOf(optimizer, parameters);
        using var _ = no_grad();
        for (int i = 0; i < parameters.Count; i++)
        {
            var (name, parameter) = parameters[i];
            var avg = Get(saved, name + ".exp_avg", parameter.shape, source);
            var avgSq = Get(saved, name + ".exp_avg_sq", parameter.shape, source);
            var step = Get(saved, name + ".step", [], source);
            states[i].ExpAvg.copy_(avg);
            states[i].ExpAvgSq.copy_(avgSq);
            states[i].Step = step.to(ScalarType.Int64).item<long>();
        }
    }

    static IReadOnlyList<AdamWOptimizer.State> StatesOf(AdamWOptimizer optimizer, IReadOnlyList<(string name, Parameter parameter)> parameters)
    {
        var states = optimizer.States;
        if (states.Count != parameters.Count)
            throw new InvalidOperationException($"The optimizer holds {states.Count} parameter states but {parameters.Count} parameters were named.");
        return states;
    }

    static Tensor Get(IReadOnlyDictionary<string, Tensor> saved, string key, long[] shape, string source)
    {
        if (!saved.TryGetValue(key, out var t))
            throw new InvalidDataException($"{source}: optimizer state '{key}' is missing.");
        if (!t.shape.SequenceEqual(shape))
            throw new InvalidDataException($"{source}: optimizer state '{key}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", shape)}].");
        return t;
    }
}
