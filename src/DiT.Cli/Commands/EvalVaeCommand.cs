using System.Globalization;
using DiT.Model;
using DiT.Training.Data;
using DiT.Training.Evaluation;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>`dit eval-vae`: PSNR of a VAE's reconstructions of the Fashion-MNIST test images, the judge's accuracy on them, and a grid.</summary>
public sealed class EvalVaeCommand : ICommand
{
    public string Summary => "judge a VAE: --vae FOLDER --data FASHION-MNIST-DIR [--classifier PATH] [--count 10000] [--grid PATH] [--threads N]";

    public int Run(CommandLine args)
    {
        if (args.Has("threads")) set_num_threads(args.Int("threads", 1));
        var vaePath = args.String("vae") ?? throw new ArgumentException("--vae is required: a VAE hub folder (config.json + diffusion_pytorch_model.safetensors).");
        var folder = args.String("data") ?? throw new ArgumentException("--data is required: the Fashion-MNIST folder (t10k-* IDX files).");
        using var vae = AutoencoderKL.Load(vaePath);
        var test = FashionMnistDataset.OpenTest(folder);
        int count = Math.Min(args.Int("count", test.Count), test.Count);
        var (allImages, allLabels) = test.ToTensors();
        using (allImages) using (allLabels)
        {
            using var images = allImages.narrow(0, 0, count);
            using var labels = allLabels.narrow(0, 0, count);
            var classifierPath = args.String("classifier");
            using var judge = classifierPath is null ? null : ImageClassifier.Load(classifierPath);
            int size = vae.Config.SampleSize;
            var report = VaeReconstruction.Evaluate(vae, images, labels, size, judge);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{report.Images} test images through {vaePath} (scaling_factor {vae.ScalingFactor:G6}, {size}x{size} -> {vae.LatentChannels}x{size / vae.DownsampleFactor}x{size / vae.DownsampleFactor}): PSNR {report.Psnr:F2} dB, {report.SecondsPerImage * 1000:F2} ms/image (encode + decode)"));
            if (report.AccuracyOriginals is { } a && report.AccuracyReconstructions is { } r)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"judge accuracy: originals {a:P2}, reconstructions {r:P2}"));
            if (args.String("grid") is { } grid)
            {
                // One row per class: 4 originals, then their 4 reconstructions.
                using var scope = NewDisposeScope();
                var rows = new List<Tensor>();
                for (int c = 0; c < FashionMnistDataset.Classes.Count; c++)
                {
                    var idx = Enumerable.Range(0, count).Where(i => test.LabelOf(i) == c).Take(4).Select(i => (long)i).ToArray();
                    if (idx.Length < 4) continue;
                    var originals = images.index_select(0, tensor(idx));
                    rows.Add(cat([originals, VaeReconstruction.Reconstruct(vae, originals, size)], 0));
                }
                SampleGrid.Save(grid, cat(rows, 0), columns: 8, scale: 3);
                Console.WriteLine($"grid {grid}: per class 4 originals, then their reconstructions");
            }
        }
        return 0;
    }
}
