using System.Buffers.Binary;
using System.Text.Json;
using DiT.Model.IO;

namespace DiT.Model.Checkpoints;

/// <summary>
/// The safetensors header, read defensively: the file may be anything (a crafted upload, a file that is not a
/// checkpoint at all), so every malformed shape of header is an <see cref="InvalidDataException"/> naming the file,
/// never another exception, a huge allocation or a quote of the file's bytes.
/// </summary>
public static partial class Safetensors
{
    const string MetadataKey = "__metadata__";
    const long MaxHeaderBytes = 100L << 20;
    const int MaxRank = 16, MaxNameLength = 1024;

    static readonly JsonDocumentOptions HeaderJson = new() { AllowDuplicateProperties = false, MaxDepth = 8 };

    /// <summary>Name, dtype and shape of every tensor, plus the string metadata, without reading tensor data.</summary>
    public sealed record Header(IReadOnlyDictionary<string, TensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    /// <summary>Where one tensor lives in the file (offsets relative to the end of the header).</summary>
    public sealed record TensorEntry(string Name, string DType, long[] Shape, long Begin, long End);

    public static Header ReadHeader(string path)
    {
        using var stream = RegularFile.OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>The header of a seekable safetensors stream; <paramref name="name"/> names it in errors.</summary>
    public static Header ReadHeader(Stream stream, string name)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) != 8) throw Bad(name, "too short to be a safetensors file");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        long afterLength = stream.Length - 8;
        if (headerLength < 2 || headerLength > MaxHeaderBytes || headerLength > afterLength)
            throw Bad(name, "not a safetensors file (its first 8 bytes are not a header length that fits the file)");
        var json = new byte[headerLength];
        if (stream.ReadAtLeast(json, json.Length, throwOnEndOfStream: false) != json.Length) throw Bad(name, "the safetensors header is truncated");

        JsonDocument document;
        try { document = JsonDocument.Parse(json, HeaderJson); }
        catch (JsonException e) { throw Bad(name, $"the safetensors header is not valid JSON (error at byte {e.BytePositionInLine} of line {e.LineNumber + 1})"); }
        using (document)
        {
            try { return Parse(document.RootElement, 8 + headerLength, afterLength - headerLength, name); }
            catch (InvalidOperationException) { throw Bad(name, "the safetensors header holds text that is not valid UTF-8"); } // strings are decoded lazily
        }
    }

    static Header Parse(JsonElement root, long dataStart, long dataLength, string name)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Bad(name, "the safetensors header is not a JSON object");
        var tensors = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name == MetadataKey) ReadMetadata(property.Value, metadata, name);
            else tensors[property.Name] = ReadEntry(property.Name, property.Value, dataLength, name);
        }
        CheckNoOverlap(tensors.Values, name);
        return new Header(tensors, metadata, dataStart);
    }

    static void ReadMetadata(JsonElement node, Dictionary<string, string> metadata, string name)
    {
        if (node.ValueKind != JsonValueKind.Object) throw Bad(name, $"'{MetadataKey}' is not a JSON object");
        foreach (var item in node.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String) throw Bad(name, $"'{MetadataKey}' has a value that is not a string");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    static TensorEntry ReadEntry(string tensor, JsonElement node, long dataLength, string name)
    {
        if (tensor.Length is 0 or > MaxNameLength || tensor.Any(char.IsControl))
            throw Bad(name, $"a tensor name is empty, longer than {MaxNameLength} characters or holds control characters");
        string What(string problem) => $"tensor '{tensor}' {problem}";
        if (node.ValueKind != JsonValueKind.Object) throw Bad(name, What("is not an object with dtype, shape and data_offsets"));

        var dtype = node.TryGetProperty("dtype", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
        int elementSize = ElementSize(dtype);
        if (elementSize == 0) throw Bad(name, What("has no dtype this reader knows (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, ...)"));

        var shape = Integers(node, "shape", maxCount: MaxRank) ?? throw Bad(name, What($"has no shape of at most {MaxRank} non-negative integers"));
        var offsets = Integers(node, "data_offsets", maxCount: 2) is [var begin, var end] ? (Begin: begin, End: end)
            : throw Bad(name, What("has no data_offsets [begin, end] of non-negative integers"));
        if (ByteSize(shape, elementSize) is not { } bytes) throw Bad(name, What("has a shape too large for any file"));
        if (offsets.Begin > offsets.End || offsets.End > dataLength || offsets.End - offsets.Begin != bytes)
            throw Bad(name, What($"has data offsets that do not match its {dtype} shape or lie beyond the end of the file"));
        return new TensorEntry(tensor, dtype, shape, offsets.Begin, offsets.End);
    }

    /// <summary>The array <paramref name="property"/> of non-negative int64s (at most <paramref name="maxCount"/>), or null.</summary>
    static long[]? Integers(JsonElement node, string property, int maxCount)
    {
        if (!node.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array || array.GetArrayLength() > maxCount) return null;
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var value) || value < 0) return null;
            values[i++] = value;
        }
        return values;
    }

    /// <summary>Bytes of a tensor, or null when the element count (or a stride: the product of the non-zero dimensions) overflows.</summary>
    static long? ByteSize(long[] shape, int elementSize)
    {
        try
        {
            long elements = 1, strides = elementSize;
            foreach (var dim in shape)
            {
                elements = checked(elements * dim);
                strides = checked(strides * Math.Max(dim, 1));
            }
            return checked(elements * elementSize);
        }
        catch (OverflowException) { return null; }
    }

    /// <summary>Two tensors must not share bytes (empty tensors take none).</summary>
    static void CheckNoOverlap(IEnumerable<TensorEntry> tensors, string name)
    {
        long end = 0;
        string? previous = null;
        foreach (var entry in tensors.Where(t => t.End > t.Begin).OrderBy(t => t.Begin))
        {
            if (entry.Begin < end) throw Bad(name, $"tensors '{previous}' and '{entry.Name}' overlap in the file");
            (end, previous) = (entry.End, entry.Name);
        }
    }

    static InvalidDataException Bad(string name, string problem) => new($"{name}: {problem}.");
}
