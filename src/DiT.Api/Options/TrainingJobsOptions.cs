using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Options;

/// <summary>Fine-tuning jobs (section "Training").</summary>
public sealed class TrainingJobsOptions
{
    public const string Section = "Training";

    /// <summary>Runs fine-tuning jobs on this replica. With several replicas exactly one (the trainer) has it on; the others
    /// serve only and leave the shared jobs folder alone (see docs/deployment.md).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where job records (job.json), checkpoints and latent caches live, one subfolder per job.</summary>
    [Required] public string JobsFolder { get; set; } = "training-jobs";

    /// <summary>Folders that data sets and init checkpoints must lie in (after resolving symlinks and ".."); empty refuses every path.</summary>
    public string[] DataRoots { get; set; } = [];

    /// <summary>Jobs waiting behind the running one; beyond this POST /admin/finetune answers 503.</summary>
    [Range(1, 1000)] public int QueueCapacity { get; set; } = 8;

    /// <summary>"auto" (CUDA when available), "cpu", "cuda" or "cuda:N".</summary>
    [Required, RegularExpression("^(auto|cpu|cuda(:[0-9]+)?)$", ErrorMessage = "Training:Device must be auto, cpu, cuda or cuda:N.")]
    public string Device { get; set; } = "auto";

    /// <summary>The trainer waits between steps while the engine has queued or running requests, so serving keeps its latency.</summary>
    public bool YieldToServing { get; set; } = true;
}
