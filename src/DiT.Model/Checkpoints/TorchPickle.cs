using System.Collections;
using DiT.Model.IO;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace DiT.Model.Checkpoints;

/// <summary>Reads state dicts from PyTorch zip checkpoints (torch.save), plain or nested like {"model", "ema", "opt"}.</summary>
public static class TorchPickle
{
    /// <summary>True when the file starts with the zip signature that torch.save (PyTorch >= 1.6) writes.</summary>
    public static bool IsZipCheckpoint(string path)
    {
        using var stream = RegularFile.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic is [0x50, 0x4B, 0x03, 0x04];
    }

    /// <summary>
    /// The tensors of a state dict in a .pt file. A plain state dict is returned as is; for a nested checkpoint
    /// <paramref name="entry"/> picks the sub-dict (default: "ema" if present, else "model", else "state_dict").
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path, string? entry = null)
    {
        if (!IsZipCheckpoint(path))
            throw new InvalidDataException($"{path}: not a PyTorch zip checkpoint (legacy torch.save format or another file type); re-save it with a current torch.save or convert it to safetensors.");
        Hashtable root;
        using (var stream = RegularFile.OpenRead(path))
        {
            // The file is open, so any failure is its content (a corrupt zip shows as IOException too). The unpickler's
            // messages can quote the file's bytes: only the kind of failure is passed on.
            try { root = PyTorchUnpickler.UnpickleStateDict(stream); }
            catch (Exception e) when (e is not OutOfMemoryException)
            { throw new InvalidDataException($"{path}: could not read the PyTorch checkpoint ({e.GetType().Name}).", e); }
        }

        var nested = root.Keys.OfType<string>().Where(k => root[k] is Hashtable).ToList();
        Hashtable dict = root;
        if (entry is not null)
            dict = root[entry] as Hashtable ?? throw new InvalidDataException(
                $"{path}: has no state dict '{entry}'; it holds {(nested.Count > 0 ? KeyNames.List(nested) : "a plain state dict")}.");
        else if (!root.Values.OfType<Tensor>().Any())
            dict = new[] { "ema", "model", "state_dict" }.Select(k => root[k] as Hashtable).FirstOrDefault(h => h is not null)
                ?? throw new InvalidDataException($"{path}: holds no tensors and none of 'ema', 'model', 'state_dict' (keys: {KeyNames.List(root.Keys.OfType<object>())}).");

        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry kv in dict)
            if (kv.Key is string name && kv.Value is Tensor t) result[name] = t;
        DisposeTensorsExcept(root, new HashSet<object>(result.Values, ReferenceEqualityComparer.Instance));
        return result;
    }

    /// <summary>Frees what the unpickler built but the caller does not get (the other entries, optimizer state).</summary>
    static void DisposeTensorsExcept(object? node, HashSet<object> keep)
    {
        switch (node)
        {
            case Tensor t:
                if (!keep.Contains(t)) t.Dispose();
                break;
            case IDictionary dict: foreach (var value in dict.Values) DisposeTensorsExcept(value, keep); break;
            case IEnumerable items and not string: foreach (var item in items) DisposeTensorsExcept(item, keep); break;
        }
    }
}
