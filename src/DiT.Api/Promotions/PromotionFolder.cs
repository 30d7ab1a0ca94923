using DiT.Api.Options;
using DiT.Model.IO;
using Microsoft.Extensions.Options;

namespace DiT.Api.Promotions;

/// <summary>
/// The shared folder promoted checkpoints are copied into (a job keeps only its last few checkpoints), and the only
/// place a promotion message may name a file in: Promotions:Folder, or "promoted" inside Training:JobsFolder.
/// </summary>
public sealed class PromotionFolder(IOptions<PromotionOptions> options, IOptions<TrainingJobsOptions> training)
{
    public string Folder => string.IsNullOrWhiteSpace(options.Value.Folder) ? Path.Combine(training.Value.JobsFolder, "promoted") : options.Value.Folder;

    /// <summary>Copies the promoted checkpoint in, once and atomically (named by its fingerprint), and returns its path there.</summary>
    public string CopyIn(ServedWeights.Promotion promotion)
    {
        var folder = Directory.CreateDirectory(Path.GetFullPath(Folder)).FullName;
        var target = Path.Combine(folder, $"{promotion.Fingerprint}.safetensors");
        if (RegularFile.Is(target) && Confine(target) is not null) return target; // else replaced: a link planted there is not followed

        var temp = $"{target}.{Guid.NewGuid():N}.tmp"; // a temp file of its own: another process may be copying the same one
        File.Copy(promotion.Checkpoint, temp, overwrite: true);
        File.Move(temp, target, overwrite: true);
        return target;
    }

    /// <summary>The real path of a promoted file, or null when it (or a link along it) lies outside the folder, or it
    /// cannot be resolved (a NUL byte, a link loop).</summary>
    public string? Confine(string path)
    {
        try { return new PathRoots([Folder]).Resolve(path); }
        catch (Exception e) when (e is ArgumentException or IOException) { return null; }
    }
}
