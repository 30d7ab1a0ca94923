using DiT.Model.Checkpoints;
using DiT.Serving.Engine;
using DiT.Testing;

namespace DiT.Api.Tests;

/// <summary>
/// Finding 2, in the real process: a start-up that cannot serve exits with code 1 and one line on stderr naming the
/// setting, the file and what is wrong, with no stack trace anywhere unless DIT_DEBUG is on, and nothing hangs. Before,
/// a checkpoint that passed validation but failed to load exited 0, bad files crashed with SIGABRT (134) and two stack
/// traces, a "[]" header said only "The node must be of type 'JsonObject'", and a FIFO hung start-up forever.
/// </summary>
public sealed class StartupProcessTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("dit-startup-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    public static TheoryData<string, string> UnservableCheckpoints => new()
    {
        { "missing", "does not exist" },
        { "truncated", "beyond the end of the file" },
        { "random bytes", "not a safetensors file" },
        { "[] header", "not a JSON object" },
        { "shape [-1]", "has no shape of at most 16 non-negative integers" },
        { "safetensors that is not a DiT", "has no 'x_embedder.proj.weight'" },
        { "zip that is not a checkpoint", "could not read the PyTorch checkpoint" },
        { "FIFO", "not a regular file" },
    };

    [Theory]
    [MemberData(nameof(UnservableCheckpoints))]
    public async Task AnUnservableCheckpointExitsNonZeroWithOneLineNamingTheSettingTheFileAndTheProblem(string kind, string problem)
    {
        var path = Write(kind);
        var exit = await ServiceProcess.RunUntilExitAsync(new Dictionary<string, string> { ["Model__CheckpointPath"] = path });

        Assert.Equal(1, exit.Code);
        var line = Assert.Single(exit.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Model:CheckpointPath", line);
        Assert.Contains(path, line);
        Assert.Contains(problem, line);
        Assert.DoesNotContain("   at ", exit.Stdout + exit.Stderr); // no stack frame anywhere
    }

    [Fact]
    public async Task TheDebugSwitchPrintsTheWholeException()
    {
        var path = Write("[] header");
        var exit = await ServiceProcess.RunUntilExitAsync(new Dictionary<string, string> { ["Model__CheckpointPath"] = path, ["DIT_DEBUG"] = "1" });

        Assert.Equal(1, exit.Code);
        Assert.Contains("OptionsValidationException", exit.Stderr);
        Assert.Contains("   at ", exit.Stderr);
    }

    [Fact]
    public async Task AnInvalidSettingExitsNonZeroNamingIt()
    {
        var exit = await ServiceProcess.RunUntilExitAsync(new Dictionary<string, string> { ["Engine__DefaultSampler"] = "euler" });

        Assert.Equal(1, exit.Code);
        Assert.Contains("Engine:DefaultSampler", Assert.Single(exit.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    string Write(string kind)
    {
        var path = Path.Combine(_folder, kind.Replace(' ', '-').Replace("[]", "brackets") + ".safetensors");
        switch (kind)
        {
            case "missing": break;
            case "truncated":
                using (var model = DefaultModel.RandomWeights(ApiFactory.TinyConfig, seed: 1)) DiTCheckpoint.Save(model, path);
                var whole = File.ReadAllBytes(path);
                File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
                break;
            case "random bytes": File.WriteAllBytes(path, RandomBytes(4096)); break;
            case "[] header": File.WriteAllBytes(path, CraftedFiles.Safetensors("[]")); break;
            case "shape [-1]": File.WriteAllBytes(path, CraftedFiles.MalformedSafetensors["negative shape"]); break;
            case "safetensors that is not a DiT": File.WriteAllBytes(path, CraftedFiles.Safetensors("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4)); break;
            case "zip that is not a checkpoint": File.WriteAllBytes(path, [0x50, 0x4B, 0x03, 0x04, .. RandomBytes(4096)]); break;
            case "FIFO": CraftedFiles.Fifo(path); break;
            default: throw new ArgumentException(kind);
        }
        return path;
    }

    static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(20).NextBytes(bytes);
        return bytes;
    }
}
