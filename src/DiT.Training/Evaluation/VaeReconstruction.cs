using System.Diagnostics;
using DiT.Model;
using DiT.Training.Data;
using static TorchSharp.torch;

namespace DiT.Training.Evaluation;

/// <summary>What a VAE keeps of the images it is given: PSNR and the judge's accuracy on reconstructions against originals.</summary>
public sealed record VaeReconstructionReport(int Images, double Psnr, double? AccuracyOriginals, double? AccuracyReconstructions, double SecondsPerImage);

/// <summary>
/// Reconstructs images through a VAE as the service would show them: padded to the VAE's size (Fashion-MNIST, see
/// <see cref="ImagePreprocessing"/>), encoded (posterior mode), decoded, clamped, rounded to 8 bits, cropped back.
/// </summary>
public static class VaeReconstruction
{
    /// <summary>(N, C, h, w) originals in [-1, 1] -> (N, C, h, w) reconstructions in [-1, 1] on 8-bit levels, in batches.</summary>
    public static Tensor Reconstruct(AutoencoderKL vae, Tensor images, int size, int batchSize = 200)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int h = (int)images.shape[2], w = (int)images.shape[3];
        var parts = new List<Tensor>();
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            var x = images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start));        // (b, C, h, w)
            var padded = h == size && w == size ? x : ImagePreprocessing.PadWithBackground(x, size);  // (b, C, S, S)
            var decoded = vae.forward(padded);                                                     // (b, C, S, S): decode(mode)
            parts.Add(ImagePreprocessing.CropCentre(ToEightBit(decoded), h, w));                   // (b, C, h, w)
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Clamp to [-1, 1] and round to the 256 levels a PNG holds ((x + 1) / 2 * 255, half up, as ImageTensors does), back in [-1, 1].</summary>
    public static Tensor ToEightBit(Tensor images)
    {
        using var scope = NewDisposeScope();
        return images.Clamped(-1.0, 1.0).Plus(1.0).Times(127.5).Plus(0.5).floor().DividedBy(127.5).Minus(1.0).MoveToOuterDisposeScope();
    }

    /// <summary>Mean over images of 10 log10(1 / MSE), pixels on [0, 1].</summary>
    public static double Psnr(Tensor originals, Tensor reconstructions)
    {
        using var scope = NewDisposeScope();
        var diff = (reconstructions.to(ScalarType.Float64) - originals.to(ScalarType.Float64)).DividedBy(2.0);   // on [0, 1]
        var mse = (diff * diff).flatten(1).mean([1]).ClampedBelow(1e-10);                                      // (N)
        return mse.log10().Times(-10.0).mean().item<double>();
    }

    /// <summary>PSNR, and the judge's accuracy on originals and on reconstructions when a classifier is given.</summary>
    public static VaeReconstructionReport Evaluate(AutoencoderKL vae, Tensor images, Tensor labels, int size, ImageClassifier? judge)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        var reconstructions = Reconstruct(vae, images, size);
        double seconds = clock.Elapsed.TotalSeconds / images.shape[0];
        double? accuracyOriginals = judge is null ? null : ClassifierTraining.Accuracy(judge, images, labels);
        double? accuracyReconstructions = judge is null ? null : ClassifierTraining.Accuracy(judge, reconstructions, labels);
        return new VaeReconstructionReport((int)images.shape[0], Psnr(images, reconstructions), accuracyOriginals, accuracyReconstructions, seconds);
    }
}
