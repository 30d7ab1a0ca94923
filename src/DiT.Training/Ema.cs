using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training;

/// <summary>DiT's update_ema: ema = decay * ema + (1 - decay) * model over named parameters, in place, no autograd.</summary>
public static class Ema
{
    public static void Update(nn.Module ema, nn.Module model, double decay)
    {
        using var _ = no_grad();
        var source = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, target) in ema.named_parameters())
            target.TimesInPlace(decay).PlusScaledInPlace(source[name], 1 - decay);
    }

    /// <summary>Copies every state-dict entry (parameters and buffers) of <paramref name="source"/> into <paramref name="target"/>.</summary>
    public static void CopyInto(nn.Module target, nn.Module source)
    {
        using var _ = no_grad();
        var from = source.state_dict();
        foreach (var (name, to) in target.state_dict()) to.copy_(from[name]);
    }
}
