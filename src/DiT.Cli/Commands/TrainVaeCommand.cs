using System.Globalization;
using DiT.Model;
using DiT.Training;
using DiT.Training.Data;
using DiT.Training.Vae;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>`dit train-vae`: trains a diffusers AutoencoderKL on an image folder or Fashion-MNIST, with checkpoints,
/// resume and Ctrl+C saving, and exports it in the hub layout (config.json with scaling_factor = 1 / std of the latents).</summary>
public sealed class TrainVaeCommand : ICommand
{
    public string Summary => "train a VAE: --data DIR --out DIR [--steps N] [--batch-size 64] [--lr 1e-3] [--kl 1e-6] [--loss l1|mse] [--channels 32,64,64] [--layers 1] [--latent-channels 4] [--groups 16] [--image-size 32] [--resume PATH|latest] [--threads N]";

    public int Run(CommandLine args)
    {
        if (args.Has("threads")) set_num_threads(args.Int("threads", 1));
        var dataPath = args.String("data") ?? throw new ArgumentException("--data is required: an image folder (one subfolder per class) or a Fashion-MNIST folder.");
        var outDir = args.String("out") ?? throw new ArgumentException("--out is required: the folder for checkpoints and the exported VAE (<out>/vae).");
        var options = new VaeTrainingOptions
        {
            Steps = args.Int("steps", 10_000),
            BatchSize = args.Int("batch-size", 64),
            LearningRate = args.Double("lr", 1e-3),
            KlWeight = args.Double("kl", 1e-6),
            Loss = args.String("loss", "l1")!,
            CheckpointEvery = args.Int("checkpoint-every", 500),
            ImageSize = args.Int("image-size", 32),
            Seed = args.Long("seed", 0),
        };
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors.Values.SelectMany(v => v)));

        var device = new Device(args.String("device", cuda.is_available() ? "cuda" : "cpu")!);
        var data = ImageDatasets.Open(dataPath);
        int imageChannels = args.Int("image-channels", data is FashionMnistDataset ? 1 : 3);
        var widths = (args.String("channels", "32,64,64")!).Split(',').Select(w => int.TryParse(w, CultureInfo.InvariantCulture, out var c) ? c
            : throw new ArgumentException($"--channels expects comma-separated block widths (e.g. 32,64,64); got '{w}'.")).ToArray();
        var config = new AutoencoderKLConfig(widths, LayersPerBlock: args.Int("layers", 1), LatentChannels: args.Int("latent-channels", 4),
            NormNumGroups: args.Int("groups", 16), InChannels: imageChannels, OutChannels: imageChannels, ScalingFactor: 1, SampleSize: options.ImageSize);
        try { config.Validate("--channels/--layers/--latent-channels/--groups"); }
        catch (InvalidDataException e) { throw new ArgumentException(e.Message); }
        var resume = args.String("resume");
        if (resume == "latest") resume = VaeTrainingRun.LatestCheckpoint(outDir) ?? throw new ArgumentException($"--resume latest: no checkpoint in '{VaeTrainingRun.CheckpointFolder(outDir)}'.");
        var dtype = args.String("dtype", "float16") switch
        {
            "float16" => ScalarType.Float16,
            "float32" => ScalarType.Float32,
            var other => throw new ArgumentException($"--dtype (of the exported weights) must be float16 or float32; got '{other}'."),
        };

        using var stop = CtrlC.SavesACheckpoint();

        int logEvery = Math.Max(1, args.Int("log-every", 10));
        Console.WriteLine($"data: {data.Source} ({data.Count} images); out: {outDir}; device: {device.type}; threads: {get_num_threads()}{(resume is null ? $"; vae {config.ToJson().ReplaceLineEndings(" ")}" : $"; resuming {resume}")}");
        var result = VaeTrainingRun.Run(new VaeTrainingRequest
        {
            Data = data,
            Config = config,
            ResumeFrom = resume,
            Options = options,
            OutputDirectory = outDir,
            Device = device,
        }, p => Print(p, logEvery), dtype, stop.Token);
        Console.WriteLine($"{result.Outcome.ToString().ToLowerInvariant()} at step {result.Step}; checkpoint {result.Checkpoint}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"exported {result.Exported} ({dtype}), scaling_factor {result.ScalingFactor:G6}"));
        return 0;
    }

    static void Print(VaeTrainingProgress p, int logEvery)
    {
        if (p.Phase == "loading")
        {
            if (p.Step == p.Total) Console.WriteLine($"loaded {p.Total} images");
            return;
        }
        if (p.Step % logEvery != 0 && p.Step != p.Total) return;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"step {p.Step}/{p.Total}  loss {p.Loss!.Loss:F5}  rec {p.Loss.Reconstruction:F5}  kl {p.Loss.Kl:F1}  {p.StepsPerSecond:F2} steps/s  eta {p.Eta:hh\\:mm\\:ss}"));
    }
}
