using DiT.Model.Checkpoints;
using DiT.Testing;

namespace DiT.Model.Tests;

/// <summary>
/// Finding 4 for the PyTorch loader, which fine-tuning reaches from a request ("init": "checkpoint" with a .pt file):
/// mutated .pt files (fixed seed; bytes flipped, overwritten or cut, where the zip directory and the pickle live) are
/// read or refused with an InvalidDataException naming the file, nothing else.
/// </summary>
public sealed class TorchPickleFuzzTests
{
    [Fact]
    public void MutatedPtFilesAreReadOrRefusedWithInvalidDataOnly()
    {
        var original = File.ReadAllBytes(Golden.Default.PathOf("dit_A_state_dict.pt"));
        var random = new Random(20);
        var path = Path.Combine(Path.GetTempPath(), $"fuzz-{Guid.NewGuid():N}.pt");
        try
        {
            for (int i = 0; i < 150; i++)
            {
                var bytes = (byte[])original.Clone();
                for (int n = random.Next(1, 6); n > 0; n--)
                {
                    // the zip's local header and pickle come first, its central directory last
                    int at = random.Next(2) == 0 ? random.Next(Math.Min(4096, bytes.Length)) : bytes.Length - 1 - random.Next(Math.Min(4096, bytes.Length));
                    if (random.Next(10) == 0) bytes = bytes[..Math.Max(4, at)];
                    else bytes[at] = random.Next(2) == 0 ? (byte)random.Next(256) : (byte)(bytes[at] ^ (1 << random.Next(8)));
                }
                File.WriteAllBytes(path, bytes);
                try { StateDicts.DisposeAll(DiTCheckpoint.ReadStateDict(path).StateDict.Values); }
                catch (InvalidDataException e) { Assert.Contains(path, e.Message); }
                catch (Exception e) { Assert.Fail($"case {i}: {e.GetType().Name}: {e.Message}"); }
            }
        }
        finally { File.Delete(path); }
    }
}
