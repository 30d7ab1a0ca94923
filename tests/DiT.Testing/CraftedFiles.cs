using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace DiT.Testing;

/// <summary>Files an attacker or a broken disk could put where a checkpoint or image is expected.</summary>
public static class CraftedFiles
{
    /// <summary>A safetensors file with this exact header text and <paramref name="dataBytes"/> zero bytes of data.</summary>
    public static byte[] Safetensors(string header, int dataBytes = 0)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(file, json.Length);
        json.CopyTo(file, 8);
        return file;
    }

    /// <summary>The malformed header shapes of issue 20 (plus their relatives), each as a safetensors file.</summary>
    public static IReadOnlyDictionary<string, byte[]> MalformedSafetensors { get; } = new Dictionary<string, byte[]>
    {
        ["array root"] = Safetensors("[]"),
        ["number entry"] = Safetensors("""{"a":1}"""),
        ["empty entry"] = Safetensors("""{"a":{}}"""),
        ["non-string metadata"] = Safetensors("""{"__metadata__":{"config":1}}"""),
        ["metadata array"] = Safetensors("""{"__metadata__":[]}"""),
        ["numeric dtype"] = Safetensors("""{"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}""", 4),
        ["unknown dtype"] = Safetensors("""{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}""", 16),
        ["negative shape"] = Safetensors("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4),
        ["huge shape"] = Safetensors("""{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}""", 4),
        ["overflowing shape"] = Safetensors("""{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"""),
        ["float shape"] = Safetensors("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", 4),
        ["offsets beyond the file"] = Safetensors("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4),
        ["reversed offsets"] = Safetensors("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", 4),
        ["overlapping tensors"] = Safetensors("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12),
        ["duplicate keys"] = Safetensors("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4),
        ["control character in a name"] = Safetensors("{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
        ["not JSON"] = Safetensors("root:x:0:0:root:/root:/bin/bash"),
        ["huge header length"] = [.. BitConverter.GetBytes(long.MaxValue), .. "{}"u8],
        ["truncated"] = [.. Safetensors("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 16).AsSpan(0, 40)],
        ["too short"] = [1, 2, 3],
        ["text file"] = Encoding.ASCII.GetBytes("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"),
    };

    /// <summary>A named pipe at <paramref name="path"/>: File.Exists says yes, and opening it blocks until a writer comes.</summary>
    public static string Fifo(string path)
    {
        if (MakeFifo(path, 0b110_100_100) != 0) throw new IOException($"mkfifo '{path}' failed ({Marshal.GetLastPInvokeError()}).");
        return path;
    }

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    static extern int MakeFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);
}
