using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Diffusion;

/// <summary>
/// The dtype a sampling trajectory is kept in: the model's, except that a half-precision model still gets a float32
/// trajectory (the update coefficients are float32), with x cast for each model call and the output cast back.
/// </summary>
public static class Trajectory
{
    public static ScalarType DtypeFor(ScalarType modelDtype) =>
        modelDtype is ScalarType.Float16 or ScalarType.BFloat16 ? ScalarType.Float32 : modelDtype;

    /// <summary>The model as the trajectory calls it: x in the model's dtype in, the output in the trajectory's out.</summary>
    public static Denoiser ForModelDtype(Denoiser model, ScalarType modelDtype)
    {
        var trajectoryDtype = DtypeFor(modelDtype);
        if (trajectoryDtype == modelDtype) return model;
        return (x, t) => model(x.to(modelDtype), t).to(trajectoryDtype);
    }
}
