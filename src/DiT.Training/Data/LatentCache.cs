using System.Security.Cryptography;
using System.Text;
using DiT.Model;
using DiT.Model.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training.Data;

/// <summary>
/// Every training image encoded once: rows [0, N) are the images, rows [N, 2N) their mirror images (the random
/// horizontal flip, encoded as a second latent as DiT's feature extraction does, because a VAE latent's mirror is not
/// the mirror's latent). Training samples rows uniformly, so each draw is a random image with a 50% flip.
/// Saved beside the checkpoints, keyed by data fingerprint, image size, autoencoder and seed, so a resume skips encoding.
/// </summary>
public sealed class LatentCache : IDisposable
{
    const int EncodeBatch = 32;

    LatentCache(Tensor latents, Tensor labels, int imageCount) => (Latents, Labels, ImageCount) = (latents, labels, imageCount);

    /// <summary>(2N, C, h, w) scaled latents on the training device.</summary>
    public Tensor Latents { get; }
    /// <summary>(2N) int64 class ids.</summary>
    public Tensor Labels { get; }
    public int ImageCount { get; }
    public int Rows => 2 * ImageCount;

    /// <summary>The cache file for this data set / image size / autoencoder / seed inside <paramref name="folder"/>.</summary>
    public static string PathFor(string folder, IImageDataset data, int imageSize, string autoencoderId, long seed)
    {
        var key = $"{data.Fingerprint}|{imageSize}|{autoencoderId}|{seed}";
        return Path.Combine(folder, $"latents-{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12].ToLowerInvariant()}.safetensors");
    }

    /// <summary>Loads the cache at <paramref name="cachePath"/> if it exists, else encodes every image (and its mirror) and saves it there.</summary>
    public static LatentCache LoadOrBuild(IImageDataset data, IAutoencoder autoencoder, int imageSize, long seed, string? cachePath,
        Device device, CancellationToken cancel, Action<int, int>? progress = null)
    {
        if (cachePath is not null && File.Exists(cachePath))
        {
            var saved = Safetensors.Load(cachePath);
            if (saved.TryGetValue("latents", out var l) && saved.TryGetValue("labels", out var y) && l.shape[0] == 2L * data.Count)
                return new LatentCache(Move(l, device), Move(y, device), data.Count);
            foreach (var t in saved.Values) t.Dispose();
        }
        var cache = Build(data, autoencoder, imageSize, seed, device, cancel, progress);
        if (cachePath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(cachePath))!);
            Safetensors.Save(cachePath, new Dictionary<string, Tensor> { ["latents"] = cache.Latents, ["labels"] = cache.Labels },
                new Dictionary<string, string> { ["source"] = data.Source, ["fingerprint"] = data.Fingerprint, ["image_size"] = imageSize.ToString() });
        }
        return cache;
    }

    static Tensor Move(Tensor t, Device device)
    {
        if (t.device == device) return t;
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    static LatentCache Build(IImageDataset data, IAutoencoder autoencoder, int imageSize, long seed, Device device,
        CancellationToken cancel, Action<int, int>? progress)
    {
        int n = data.Count, f = autoencoder.DownsampleFactor;
        if (imageSize % f != 0) throw new ArgumentException($"Image size {imageSize} is not a multiple of the autoencoder's downsampling {f}.");
        var latents = empty([2L * n, autoencoder.LatentChannels, imageSize / f, imageSize / f], ScalarType.Float32, device);
        var labels = tensor(Enumerable.Range(0, n).Select(i => (long)data.LabelOf(i)).ToArray()).repeat(2).to(device);
        var generator = new Generator((ulong)seed);
        try
        {
            for (int start = 0; start < n; start += EncodeBatch)
            {
                cancel.ThrowIfCancellationRequested();
                int count = Math.Min(EncodeBatch, n - start);
                using var scope = NewDisposeScope();
                var images = stack(Enumerable.Range(start, count).Select(i => ReadImage(data, i, imageSize, autoencoder.ImageChannels)).ToArray()); // (b, C, S, S)
                var both = cat([images, images.flip(3)]);                                                       // (2b, C, S, S): mirror = flip of W
                var encoded = autoencoder.EncodeToLatents(both, generator).to(ScalarType.Float32).to(device);    // (2b, c, h, w)
                using (no_grad())
                {
                    latents[TensorIndex.Slice(start, start + count)] = encoded[TensorIndex.Slice(0, count)];
                    latents[TensorIndex.Slice(n + start, n + start + count)] = encoded[TensorIndex.Slice(count, 2 * count)];
                }
                progress?.Invoke(start + count, n);
            }
        }
        catch
        {
            latents.Dispose(); labels.Dispose();
            throw;
        }
        finally { generator.Dispose(); }
        return new LatentCache(latents, labels, n);
    }

    static Tensor ReadImage(IImageDataset data, int index, int imageSize, int channels)
        => ImagePreprocessing.ToTensor(data, index, imageSize, channels);

    public void Dispose()
    {
        Latents.Dispose();
        Labels.Dispose();
    }
}
