namespace DiT.Cli.Commands;

/// <summary>
/// `dit bench --all`: every benchmark in one run, each with its own defaults: soak (RSS and live tensors over 1,000
/// generations; first, so the RSS is not that of a process which held DiT-XL/2), bench-serving (whole vs continuous
/// batching, 1 and 32 clients, Poisson arrivals) and bench-model (matmul peak and forward efficiency of DiT-B/2 and
/// DiT-XL/2 at 32x32 latents). --threads N goes to all three;
/// --only model,serving,soak picks a subset; --quick shortens each (smaller models, fewer requests) for a smoke run.
/// </summary>
public sealed class BenchCommand : ICommand
{
    public string Summary => "all benchmarks in one run: bench-model, bench-serving, soak (--all, --only, --quick, --threads N)";

    public int Run(CommandLine options)
    {
        var only = (options.String("only") ?? "model,serving,soak").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var unknown = only.Except(["model", "serving", "soak"]).ToArray();
        if (unknown.Length > 0)
        {
            Console.Error.WriteLine($"bench: --only {string.Join(",", unknown)} is not one of model, serving, soak.");
            return 2;
        }
        bool quick = options.Has("quick");
        string[] threads = options.Has("threads") ? ["--threads", options.Int("threads", 1).ToString(System.Globalization.CultureInfo.InvariantCulture)] : [];
        var steps = new List<(string Name, ICommand Command, string[] Args)>();
        if (only.Contains("soak"))
            steps.Add(("soak", new SoakCommand(), quick ? ["--generations", "200", "--every", "50"] : []));
        if (only.Contains("serving"))
            steps.Add(("bench-serving", new BenchServingCommand(), quick ? ["--requests", "16"] : []));
        if (only.Contains("model"))
            steps.Add(("bench-model", new BenchModelCommand(), quick
                ? ["--models", "DiT-S/2", "--batches", "1,2", "--runs", "3"]
                : ["--models", "DiT-B/2,DiT-XL/2", "--batches", "1,2,8", "--runs", "3", "--budget-seconds", "240"]));

        int worst = 0;
        foreach (var (name, command, args) in steps)
        {
            Console.WriteLine($"## dit {name} {string.Join(" ", args.Concat(threads))}");
            Console.WriteLine();
            worst = Math.Max(worst, command.Run(CommandLine.Parse([.. args, .. threads])));
            Console.WriteLine();
        }
        return worst;
    }
}
