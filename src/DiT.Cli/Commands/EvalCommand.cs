using System.Globalization;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Training.Data;
using DiT.Training.Evaluation;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>`dit eval`: sample quality of a Fashion-MNIST DiT per sampler setting (accuracy, Frechet distance vs floor, s/image) and a sample grid.</summary>
public sealed class EvalCommand : ICommand
{
    const string DefaultSettings = "dpm:20:1.5,dpm:10:1.5,ddim:25:1.5,ddim:50:1.5,ddpm:250:1.5";

    public string Summary => "judge samples: --model DIT.safetensors --classifier CNN.safetensors --data FASHION-MNIST-DIR "
        + $"[--vae FOLDER (a latent model's VAE)] [--settings {DefaultSettings} (each sampler:steps:guidance[:clip][@cache], cache off, fora:N, taylor:N or teacache:T)] [--per-class 20] [--seed 0] [--grid grid.png] [--table table.md] [--threads N]";

    public int Run(CommandLine args) => Evaluate(args);

    static int Evaluate(CommandLine args)
    {
        if (args.Has("threads")) set_num_threads(args.Int("threads", 1));
        var modelPath = args.String("model") ?? throw new ArgumentException("--model is required: DiT weights or a training checkpoint (its EMA weights are used).");
        var classifierPath = args.String("classifier") ?? throw new ArgumentException("--classifier is required: weights from `dit train-classifier`.");
        var folder = args.String("data") ?? throw new ArgumentException("--data is required: the Fashion-MNIST folder (train-* and t10k-* IDX files).");
        var settings = args.String("settings", DefaultSettings)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(EvalSetting.Parse).ToArray();
        int perClass = args.Int("per-class", 20), batch = args.Int("batch", 100);
        if (perClass < 2) throw new ArgumentException($"--per-class must be >= 2 (a covariance needs two samples); got {perClass}.");
        if (batch < 1) throw new ArgumentException($"--batch must be >= 1; got {batch}.");
        long seed = args.Long("seed", 0);

        using var model = DiTCheckpoint.Load(modelPath);
        using var vae = args.String("vae") is { } vaePath ? AutoencoderKL.Load(vaePath) : null;
        if (vae is not null && vae.LatentChannels != model.Config.InChannels)
            throw new ArgumentException($"--vae has {vae.LatentChannels} latent channels but the model takes {model.Config.InChannels}.");
        using var classifier = ImageClassifier.Load(classifierPath);
        var train = FashionMnistDataset.Open(folder).ToTensors();
        var test = FashionMnistDataset.OpenTest(folder).ToTensors();
        using (train.Images) using (train.Labels) using (test.Images) using (test.Labels)
        using (var quality = new SampleQuality(classifier, train, test.Images))
        {
            var lines = new List<string>
            {
                $"model `{Path.GetFileName(modelPath)}` ({model.Config.ToJson()}){(vae is null ? "" : $", VAE `{args.String("vae")}`")}, {perClass} images per class, seed {seed}",
                "",
                "| sampler | steps | guidance | guidance interval (sigma) | clip x0 | cache | full passes / image | accuracy | Frechet distance | floor (real train vs test) | distance / floor | s/image | decoding |",
                "|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
            };
            foreach (var line in lines) Console.WriteLine(line);
            for (int i = 0; i < settings.Length; i++)
            {
                using var result = quality.Evaluate(model, settings[i], perClass, seed, batch,
                    (done, total) => Console.Error.Write($"\r{settings[i]}: {done}/{total} images"), autoencoder: vae);
                Console.Error.WriteLine();
                var row = Row(result);
                Console.WriteLine(row);
                lines.Add(row);
                if (i == 0 && args.String("grid") is { } gridPath)
                {
                    int columns = Math.Min(10, perClass);
                    using var firstOfEach = result.Images.view(classifier.NumClasses, perClass, 1, ImageClassifier.ImageSize, ImageClassifier.ImageSize)
                        .narrow(1, 0, columns).reshape(-1, 1, ImageClassifier.ImageSize, ImageClassifier.ImageSize);
                    SampleGrid.Save(gridPath, firstOfEach, columns);
                    Console.Error.WriteLine($"grid of {settings[i]} written to {gridPath}");
                }
            }
            if (args.String("table") is { } tablePath) File.WriteAllLines(tablePath, lines);
        }
        return 0;
    }

    static string Row(EvalResult r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.Setting.SamplerName} | {r.Setting.Steps} | {r.Setting.Guidance:0.##} | {r.Setting.Interval?.ToString() ?? "all steps"} | {(r.Setting.Clip ? "yes" : "no")} | {r.Setting.Cache} | {r.FullPassesPerImage:0.#} | {r.Accuracy:P1} | {r.Distance:F2} | {r.Floor:F2} | {r.Distance / r.Floor:F2} | {r.SecondsPerImage:F3} | {r.DecodeSecondsPerImage / r.SecondsPerImage:P0} |");

}
