using DiT.Cli;
using DiT.Cli.Commands;

// One class per command (Commands/*.cs); each parses its own --options.
var commands = new Dictionary<string, ICommand>(StringComparer.OrdinalIgnoreCase)
{
    ["bench"] = new BenchCommand(),
    ["bench-model"] = new BenchModelCommand(),
    ["bench-serving"] = new BenchServingCommand(),
    ["bench-stepcache"] = new BenchStepCacheCommand(),
    ["eval"] = new EvalCommand(),
    ["eval-vae"] = new EvalVaeCommand(),
    ["export-model"] = new ExportModelCommand(),
    ["fuzz"] = new FuzzCommand(),
    ["load"] = new LoadCommand(),
    ["soak"] = new SoakCommand(),
    ["train"] = new TrainCommand(),
    ["train-classifier"] = new TrainClassifierCommand(),
    ["train-vae"] = new TrainVaeCommand(),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine("usage: dit <command> [--option value ...]");
    foreach (var (name, c) in commands.OrderBy(kv => kv.Key)) Console.Error.WriteLine($"  {name,-10} {c.Summary}");
    return args.Length == 0 ? 0 : 2;
}
DiT.Model.Nnpack.Disable();
// Bad options, files and data are the user's to fix: one line and exit code 2, never a stack trace.
try { return command.Run(CommandLine.Parse(args.Skip(1).ToArray())); }
catch (Exception e) when (CommandLine.IsUserError(e))
{
    Console.Error.WriteLine($"dit {args[0]}: {e.Message}");
    return 2;
}
