using System.Buffers.Binary;
using System.Text;
using DiT.Model.Checkpoints;
using DiT.Testing;
using static TorchSharp.torch;

namespace DiT.Model.Tests;

/// <summary>
/// Finding 4: a safetensors header of any shape is either read or refused with an InvalidDataException naming the file,
/// never another exception (which the routes answered with 500), and a refusal never quotes the file's bytes.
/// </summary>
public sealed class SafetensorsHeaderTests
{
    const string Name = "/data/crafted.safetensors";
    const string JsonCharacters = "{}[]\",:-0123456789eE.\\ ";

    public static TheoryData<string> MalformedKinds => [.. CraftedFiles.MalformedSafetensors.Keys];

    [Theory]
    [MemberData(nameof(MalformedKinds))]
    public void AMalformedHeaderIsInvalidDataNamingTheFile(string kind)
    {
        var error = Assert.Throws<InvalidDataException>(() => Read(CraftedFiles.MalformedSafetensors[kind]));
        Assert.StartsWith(Name + ": ", error.Message);
        Assert.DoesNotContain("root:x", error.Message);
        Assert.DoesNotContain("3475222254926655346", error.Message); // "root:x:0" read as a header length
    }

    [Fact]
    public void AFileThatIsNotSafetensorsIsRefusedWithoutQuotingIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"passwd-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, CraftedFiles.MalformedSafetensors["text file"]);
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => Safetensors.ReadHeader(path));
            Assert.Equal($"{path}: not a safetensors file (its first 8 bytes are not a header length that fits the file).", error.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AFifoIsRefusedBeforeItIsOpened()
    {
        var path = CraftedFiles.Fifo(Path.Combine(Path.GetTempPath(), $"fifo-{Guid.NewGuid():N}.safetensors"));
        try
        {
            Assert.Contains("not a regular file", Assert.ThrowsAny<IOException>(() => Safetensors.ReadHeader(path)).Message);
            Assert.Contains("not a regular file", Assert.ThrowsAny<IOException>(() => TorchPickle.IsZipCheckpoint(path)).Message);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Thousands of random and mutated headers from a fixed seed: only success or InvalidDataException, and
    /// a header that is read describes tensors that fit the file without overlapping.</summary>
    [Fact]
    public void FuzzedHeadersAreReadOrRefusedWithInvalidDataOnly()
    {
        var random = new Random(20);
        var valid = ValidFile();
        int read = 0, refused = 0;
        for (int i = 0; i < 6000; i++)
        {
            var bytes = (i % 3) switch
            {
                0 => Mutate(valid, random),
                1 => CraftedFiles.Safetensors(RandomHeader(random), random.Next(0, 64)),
                _ => WithLength(RandomBytes(random, random.Next(0, 200)), random),
            };
            try
            {
                var header = Read(bytes);
                long dataLength = bytes.Length - header.DataStart;
                Assert.All(header.Tensors.Values, t => Assert.InRange(t.End, t.Begin, dataLength));
                read++;
            }
            catch (InvalidDataException e)
            {
                Assert.StartsWith(Name, e.Message);
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i}: {e.GetType().Name}: {e.Message}\n{Convert.ToBase64String(bytes)}");
            }
        }
        Assert.True(read > 100 && refused > 1000, $"read {read}, refused {refused}: the fuzzer should reach both outcomes");
    }

    static Safetensors.Header Read(byte[] bytes) => Safetensors.ReadHeader(new MemoryStream(bytes), Name);

    static byte[] ValidFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var a = randn(2, 3);
            using var b = arange(4, ScalarType.Int64);
            using var c = zeros(0);
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b.x"] = b, ["c"] = c }, new Dictionary<string, string> { ["config"] = "{}" });
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Flips, inserts, deletes or overwrites a few bytes, or truncates, mostly inside the header.</summary>
    static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = new List<byte>(valid);
        int headerEnd = (int)(8 + BinaryPrimitives.ReadInt64LittleEndian(valid));
        for (int n = random.Next(1, 4); n > 0 && bytes.Count > 0; n--)
        {
            int at = random.Next(random.Next(2) == 0 ? Math.Min(headerEnd, bytes.Count) : bytes.Count);
            switch (random.Next(5))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes.Insert(at, (byte)JsonCharacters[random.Next(JsonCharacters.Length)]); break;
                case 2: bytes.RemoveAt(at); break;
                case 3: bytes[at] = (byte)random.Next(256); break;
                default: bytes.RemoveRange(at, bytes.Count - at); break;
            }
        }
        return [.. bytes];
    }

    static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Random bytes behind a header length that fits, so the JSON parser sees them.</summary>
    static byte[] WithLength(byte[] body, Random random)
    {
        var file = new byte[8 + body.Length];
        BinaryPrimitives.WriteInt64LittleEndian(file, random.Next(0, body.Length + 2));
        body.CopyTo(file, 8);
        return file;
    }

    /// <summary>A header from a grammar of near-valid parts: right and wrong JSON types, dtypes, shapes, offsets, metadata.</summary>
    static string RandomHeader(Random random)
    {
        string Pick(params string[] options) => options[random.Next(options.Length)];
        string Int() => Pick("0", "1", "2", "4", "8", "-1", "16", "4611686018427387904", "9223372036854775807", "1.5", "1e3", "\"2\"", "null", "[]", "{}");
        string Ints(int max) => "[" + string.Join(",", Enumerable.Range(0, random.Next(max + 1)).Select(_ => Int())) + "]";
        string Entry() => Pick(
            $$"""{"dtype":{{Pick("\"F32\"", "\"F16\"", "\"I64\"", "\"BOOL\"", "\"U16\"", "\"F128\"", "5", "null", "\"\"")}},"shape":{{Pick(Ints(3), Int())}},"data_offsets":{{Pick(Ints(3), Int())}}}""",
            $$"""{"dtype":"F32","shape":[{{Int()}}],"data_offsets":[0,{{Int()}}]}""",
            "{}", "[]", "1", "\"x\"", "null", "{\"dtype\":\"F32\"}");
        string Metadata() => Pick("{}", "[]", "1", "{\"a\":\"b\"}", "{\"a\":1}", "{\"a\":null}", "{\"a\":{}}", "\"x\"");
        var parts = Enumerable.Range(0, random.Next(4)).Select(i => $"\"{Pick("a", "b", "a", "__metadata__", "t.w", "")}\":{(random.Next(5) == 0 ? Metadata() : Entry())}");
        return Pick("{" + string.Join(",", parts) + "}", "[" + string.Join(",", parts) + "]", Entry(), Int());
    }
}
