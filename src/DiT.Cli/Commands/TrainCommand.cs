using System.Globalization;
using DiT.Model;
using DiT.Model.Checkpoints;
using DiT.Training;
using DiT.Training.Data;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>`dit train`: fine-tune or train a DiT on an image folder or Fashion-MNIST, with checkpoints, resume and Ctrl+C saving.</summary>
public sealed class TrainCommand : ICommand
{
    public string Summary => "train a DiT: --data DIR --preset DiT-S/2 --image-size 28 --steps N --out DIR [--resume PATH|latest] [--init PATH] [--vae PATH|none] [--patch P --depth D --hidden W --heads H]";

    public int Run(CommandLine args) => Train(args);

    static int Train(CommandLine args)
    {
        if (args.Has("threads")) set_num_threads(args.Int("threads", 1));
        var dataPath = args.String("data") ?? throw new ArgumentException("--data is required: an image folder (one subfolder per class) or a Fashion-MNIST folder.");
        var outDir = args.String("out") ?? throw new ArgumentException("--out is required: the folder for checkpoints and the latent cache.");
        var options = new TrainingOptions
        {
            Steps = args.Int("steps", TrainingOptions.Defaults.Steps),
            BatchSize = args.Int("batch-size", TrainingOptions.Defaults.BatchSize),
            LearningRate = args.Double("lr", TrainingOptions.Defaults.LearningRate),
            EmaDecay = args.Double("ema", TrainingOptions.Defaults.EmaDecay),
            CheckpointEvery = args.Int("checkpoint-every", TrainingOptions.Defaults.CheckpointEvery),
            ImageSize = args.Int("image-size", TrainingOptions.Defaults.ImageSize),
            Seed = args.Long("seed", TrainingOptions.Defaults.Seed),
        };
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors.Values.SelectMany(v => v)));

        var device = new Device(args.String("device", cuda.is_available() ? "cuda" : "cpu")!);
        var data = ImageDatasets.Open(dataPath);
        var resume = args.String("resume");
        if (resume == "latest") resume = TrainingRun.LatestCheckpoint(outDir) ?? throw new ArgumentException($"--resume latest: no checkpoint in '{TrainingRun.CheckpointFolder(outDir)}'.");
        var vae = args.String("vae", "none")!;
        using var autoencoder = vae == "none"
            ? new PixelSpaceAutoencoder(args.Int("channels", data is FashionMnistDataset ? 1 : 3))
            : (IAutoencoder)AutoencoderKL.Load(vae, device);
        var init = args.String("init");
        var preset = args.String("preset", "DiT-S/2")!;
        int f = autoencoder.DownsampleFactor;

        DiTModel InitialModel(Generator generator) => init is not null
            ? DiTCheckpoint.Load(init)
            : new DiTModel(ShapeOverrides(DiTConfig.Preset(preset, options.ImageSize / f, data.ClassNames.Count, autoencoder.LatentChannels, args.Has("learn-sigma") ? args.String("learn-sigma") != "false" : null), args), generator);

        using var stop = CtrlC.SavesACheckpoint();

        int logEvery = Math.Max(1, args.Int("log-every", 10));
        Console.WriteLine($"data: {data.Source} ({data.Count} images, {data.ClassNames.Count} classes); out: {outDir}; device: {device.type}{(resume is null ? "" : $"; resuming {resume}")}");
        var result = TrainingRun.Run(new TrainingRunRequest
        {
            Data = data,
            InitialModel = InitialModel,
            ResumeFrom = resume,
            Options = options,
            OutputDirectory = outDir,
            Autoencoder = autoencoder,
            AutoencoderId = vae == "none" ? $"pixels{autoencoder.ImageChannels}" : Path.GetFullPath(vae),
            Device = device,
        }, p => Print(p, logEvery), cancel: stop.Token);
        Console.WriteLine($"{result.Outcome.ToString().ToLowerInvariant()} at step {result.Step}; checkpoint {result.Checkpoint}");
        return 0;
    }

    /// <summary>A custom-sized model for small data (e.g. Fashion-MNIST on a CPU): --patch, --depth, --hidden, --heads override the preset.</summary>
    static DiTConfig ShapeOverrides(DiTConfig preset, CommandLine args)
    {
        int hidden = args.Int("hidden", preset.HiddenSize);
        return (preset with
        {
            PatchSize = args.Int("patch", preset.PatchSize),
            Depth = args.Int("depth", preset.Depth),
            HiddenSize = hidden,
            NumHeads = args.Int("heads", hidden == preset.HiddenSize ? preset.NumHeads : DiTConfig.DefaultHeads(hidden)),
        }).Validated();
    }

    static void Print(TrainingProgress p, int logEvery)
    {
        if (p.Phase == "encoding")
        {
            if (p.Step == p.Total || p.Step % 1024 < 32) Console.WriteLine($"encoding {p.Step}/{p.Total} images");
            return;
        }
        if (p.Step % logEvery != 0 && p.Step != p.Total) return;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"step {p.Step}/{p.Total}  loss {p.Loss:F4}  {p.StepsPerSecond:F2} steps/s  eta {p.Eta:hh\\:mm\\:ss}"));
    }
}
