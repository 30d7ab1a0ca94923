using DiT.Model.Checkpoints;
using DiT.Training.Checkpoints;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>`dit export-model`: the EMA weights of a training checkpoint as a small servable safetensors file (fp16 by default) plus classes.txt.</summary>
public sealed class ExportModelCommand : ICommand
{
    public string Summary => "export served weights: --checkpoint TRAINING.safetensors --out MODEL.safetensors [--dtype float16|float32] [--entry ema|model]";

    public int Run(CommandLine args)
    {
        var checkpoint = args.String("checkpoint") ?? throw new ArgumentException("--checkpoint is required: a `dit train` checkpoint (its EMA weights are exported).");
        var outPath = args.String("out") ?? throw new ArgumentException("--out is required: the .safetensors file to write.");
        var dtype = args.String("dtype", "float16") switch
        {
            "float16" => ScalarType.Float16,
            "float32" => ScalarType.Float32,
            var other => throw new ArgumentException($"--dtype must be float16 or float32; got '{other}'."),
        };
        var entry = args.String("entry", "ema")!;
        if (entry is not ("ema" or "model")) throw new ArgumentException($"--entry must be ema (the averaged weights, served) or model (the raw trained weights); got '{entry}'.");
        IReadOnlyList<string> classes;
        using (var file = TrainingCheckpointFile.Read(checkpoint)) classes = file.Classes;
        using var model = DiTCheckpoint.Load(checkpoint, dtype: dtype, entry: entry);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        DiTCheckpoint.Save(model, outPath, new Dictionary<string, string> { ["classes"] = System.Text.Json.JsonSerializer.Serialize(classes), ["source"] = $"{Path.GetFileName(checkpoint)} ({entry})" });
        File.WriteAllLines(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, "classes.txt"), classes);
        Console.WriteLine($"exported {model.Config.ToJson()} ({dtype}) to {outPath} with classes.txt ({classes.Count} classes)");
        return 0;
    }
}
