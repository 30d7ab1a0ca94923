using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using DiT.Model.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Model.Checkpoints;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then raw little-endian bytes.
/// Tensors are read one at a time straight from the file, so multi-GB checkpoints never sit in one array.
/// </summary>
public static partial class Safetensors
{
    /// <summary>Loads every tensor (or those <paramref name="select"/> keeps) on the CPU in its stored dtype.</summary>
    public static Dictionary<string, Tensor> Load(string path, Func<string, bool>? select = null)
    {
        using var stream = RegularFile.OpenRead(path);
        var header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var entry in header.Tensors.Values.OrderBy(e => e.Begin))
            {
                if (select is not null && !select(entry.Name)) continue;
                result[entry.Name] = ReadTensor(stream, header.DataStart, entry, path);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    static Tensor ReadTensor(Stream stream, long dataStart, TensorEntry entry, string path)
    {
        var tensor = empty(entry.Shape, ToScalarType(entry.DType, path, entry.Name));
        var buffer = new byte[entry.End - entry.Begin];
        stream.Position = dataStart + entry.Begin;
        stream.ReadExactly(buffer);
        if (buffer.Length > 0) tensor.bytes = buffer;
        return tensor;
    }

    /// <summary>Writes tensors (moved to CPU, made contiguous) with string metadata, via a temp file and rename so a reader never sees half a file.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header[MetadataKey] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        long offset = 0;
        var ordered = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        foreach (var (name, tensor) in ordered)
        {
            long size = tensor.numel() * tensor.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = ToDTypeName(tensor.dtype),
                ["shape"] = new JsonArray(tensor.shape.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + size),
            };
            offset += size;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - headerBytes.Length % 8) % 8; // keep tensor data 8-byte aligned, as the reference writer does
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                Span<byte> lengthBytes = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(lengthBytes, headerBytes.Length + padding);
                stream.Write(lengthBytes);
                stream.Write(headerBytes);
                for (int i = 0; i < padding; i++) stream.WriteByte((byte)' ');
                foreach (var (_, tensor) in ordered)
                {
                    using var cpu = tensor.detach().cpu().contiguous();
                    if (cpu.numel() > 0) stream.Write(cpu.bytes);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Bytes per element of a safetensors dtype, or 0 for a dtype this reader does not know.</summary>
    static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => 0,
    };

    static ScalarType ToScalarType(string dtype, string path, string name) => dtype switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new InvalidDataException($"{path}: tensor '{name}' has dtype {dtype}, which TorchSharp cannot hold."),
    };

    static string ToDTypeName(ScalarType type) => type switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentException($"safetensors cannot store dtype {type}."),
    };
}
