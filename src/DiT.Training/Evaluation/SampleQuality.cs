using System.Diagnostics;
using System.Globalization;
using DiT.Diffusion;
using DiT.Model;
using DiT.Model.StepCaching;
using DiT.Training.Data;
using static TorchSharp.torch;

namespace DiT.Training.Evaluation;

/// <summary>
/// One sampling setting to judge: sampler, steps, classifier-free guidance scale, whether x0 predictions are clipped to
/// [-1, 1], the guidance interval in noise level sigma (null: guidance at every step), and the step cache.
/// </summary>
public sealed record EvalSetting(SamplerKind Sampler, int Steps, double Guidance, bool Clip = false, GuidanceInterval? Interval = null)
{
    public StepCacheSettings Cache { get; init; } = StepCacheSettings.Off;

    /// <summary>The wire names (ddpm, ddim, dpmpp-2m) and the CLI's short ones for DPM-Solver++(2M).</summary>
    static readonly Dictionary<string, SamplerKind> Names = new(SamplerNames.ByName, StringComparer.OrdinalIgnoreCase)
    {
        ["dpm"] = SamplerKind.DpmSolverPP2M, ["dpm++2m"] = SamplerKind.DpmSolverPP2M,
    };

    const string Syntax = "sampler:steps:guidance[:clip][:LOW-HIGH][@cache] with sampler ddpm, ddim or dpm, steps >= 1, guidance >= 0, "
        + "LOW-HIGH a guidance interval in noise level sigma, 0 <= LOW < HIGH, and a step cache as the service's "
        + "(e.g. dpm:20:1.5, dpm:20:1.5:clip, dpm:20:1.5:0.3-10 or ddim:50:1.5@fora:2)";

    /// <summary>Parses "sampler:steps:guidance[:clip][:LOW-HIGH][@cache]", e.g. "dpm:20:1.5:0.3-10" or "ddim:50:1.5@fora:2".</summary>
    public static EvalSetting Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (sampling, cacheText) = text.Split('@') switch
        {
            [var s] => (s, "off"),
            [var s, var c] => (s, c),
            _ => throw new ArgumentException($"'{text}' has more than one '@': write {Syntax}."),
        };
        if (!StepCacheSettings.TryParse(cacheText, out var cache))
            throw new ArgumentException($"'{text}': '{cacheText}' is not a step cache; allowed {StepCacheSettings.Allowed}.");
        var parts = sampling.Split(':');
        if (parts.Length is < 3 or > 5 || !Names.TryGetValue(parts[0], out var kind)
            || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var steps) || steps < 1
            || !double.TryParse(parts[2], CultureInfo.InvariantCulture, out var guidance) || guidance < 0)
            throw new ArgumentException($"'{text}' is not a setting: write {Syntax}.");
        bool clip = false;
        GuidanceInterval? interval = null;
        foreach (var option in parts.Skip(3))
        {
            if (option == "clip" && !clip) clip = true;
            else if (interval is null && GuidanceInterval.TryParse(option) is { } parsed) interval = parsed;
            else throw new ArgumentException($"'{text}' is not a setting: '{option}' is neither 'clip' nor a guidance interval; write {Syntax}.");
        }
        return new EvalSetting(kind, steps, guidance, clip, interval) { Cache = cache };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{SamplerName}-{Steps} cfg {Guidance:0.##}{(Interval is null ? "" : $" in sigma {Interval}")}{(Clip ? " clip" : "")}{(Cache.IsOff ? "" : $" cache {Cache}")}");

    public string SamplerName => Sampler switch { SamplerKind.Ddpm => "DDPM", SamplerKind.Ddim => "DDIM", _ => "DPM-Solver++(2M)" };
}

/// <summary>The measurements of one setting, and the images it drew (class-major: class c is rows [c n, (c + 1) n)).
/// Passes: every image's model passes (one per step and guidance branch), full or cached. SecondsPerImage includes
/// DecodeSecondsPerImage, the autoencoder's share.</summary>
public sealed record EvalResult(EvalSetting Setting, int PerClass, double Accuracy, double Distance, double Floor, double SecondsPerImage, Tensor Images,
    ModelPasses Passes) : IDisposable
{
    public double DecodeSecondsPerImage { get; init; }

    /// <summary>Full passes per image in steps: the steps at which the transformer ran, averaged over guidance branches.</summary>
    public double FullPassesPerImage => Passes.Total == 0 ? 0 : Setting.Steps * (double)Passes.Full / Passes.Total;

    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Judges a class-conditional DiT on a labelled data set with a classifier: draws N images per class (row i seeded with
/// seed + i, guidance per row), then reports the share classified as the class asked for, the Frechet distance of the
/// classifier's features to the test set's, and that distance for as many real training images (the floor).
/// Images are judged as the service shows them: decoded by the model's autoencoder, rounded to 8 bits, and cropped to
/// the classifier's size when larger (a latent model's 32x32 Fashion-MNIST is the 28x28 image padded, see ImagePreprocessing).
/// </summary>
public sealed class SampleQuality : IDisposable
{
    readonly ImageClassifier _classifier;
    readonly Tensor _testMean, _testCovariance, _trainImages, _trainLabels;

    /// <param name="classifier">The judge; not owned.</param>
    /// <param name="train">Real training images (N, 1, 28, 28) in [-1, 1] and labels, for the floor.</param>
    /// <param name="test">The test images the distances are measured to.</param>
    public SampleQuality(ImageClassifier classifier, (Tensor Images, Tensor Labels) train, Tensor testImages)
    {
        _classifier = classifier;
        (_trainImages, _trainLabels) = (train.Images, train.Labels);
        using var scope = NewDisposeScope();
        var (features, _) = classifier.Classify(testImages);
        var (mean, covariance) = FrechetDistance.MeanAndCovariance(features);
        (_testMean, _testCovariance) = (mean.MoveToOuterDisposeScope(), covariance.MoveToOuterDisposeScope());
    }

    /// <summary>The distance of perClass real training images per class (picked with the seed) to the test set.</summary>
    public double Floor(int perClass, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(unchecked((ulong)seed));
        var rows = new List<Tensor>();
        for (int c = 0; c < _classifier.NumClasses; c++)
        {
            var ofClass = _trainLabels.EqualTo(c).nonzero().squeeze(1);                                    // (M)
            rows.Add(ofClass.index_select(0, randperm(ofClass.shape[0], generator: generator).narrow(0, 0, perClass)));
        }
        return DistanceToTest(_trainImages.index_select(0, cat(rows, 0)));
    }

    double DistanceToTest(Tensor images)
    {
        using var scope = NewDisposeScope();
        var (features, _) = _classifier.Classify(images);
        var (mean, covariance) = FrechetDistance.MeanAndCovariance(features);
        return FrechetDistance.Between(mean, covariance, _testMean, _testCovariance);
    }

    /// <summary>
    /// Draws perClass images of every class with the setting and measures them; the result owns the images.
    /// <paramref name="autoencoder"/> decodes the model's samples (default: pixel space).
    /// </summary>
    public EvalResult Evaluate(DiTModel model, EvalSetting setting, int perClass, long seed = 0, int batchSize = 100,
        Action<int, int>? progress = null, CancellationToken cancel = default, IAutoencoder? autoencoder = null)
    {
        int classes = _classifier.NumClasses, total = classes * perClass;
        if (model.Config.NumClasses != classes)
            throw new ArgumentException($"The model has {model.Config.NumClasses} classes but the classifier {classes}.");
        using var pixels = autoencoder is null ? new PixelSpaceAutoencoder(model.Config.InChannels) : null;
        var decoder = autoencoder ?? pixels!;
        using var scope = NewDisposeScope();
        var batches = new List<Tensor>();
        var passes = new ModelPasses();
        var sampling = new Stopwatch();
        var decoding = new Stopwatch();
        for (int start = 0; start < total; start += batchSize)
        {
            int n = Math.Min(batchSize, total - start);
            sampling.Start();
            var samples = DrawSamples(model, setting, Enumerable.Range(start, n).Select(i => (i / perClass, seed + i)).ToArray(), out var drawn, cancel);
            sampling.Stop();
            decoding.Start();
            batches.Add(AsJudged(decoder.DecodeLatents(samples)));                                    // (n, 1, 28, 28)
            decoding.Stop();
            passes += drawn;
            progress?.Invoke(start + n, total);
        }
        var images = cat(batches, 0);                                                                  // (total, 1, 28, 28)
        double seconds = (sampling.Elapsed + decoding.Elapsed).TotalSeconds / total;

        var labels = KeptScalars.Range(classes, ScalarType.Int64).repeat_interleave(perClass);                    // (total)
        var (features, predictions) = _classifier.Classify(images);
        double accuracy = predictions.eq(labels).to(ScalarType.Float64).mean().item<double>();
        var (mean, covariance) = FrechetDistance.MeanAndCovariance(features);
        double distance = FrechetDistance.Between(mean, covariance, _testMean, _testCovariance);
        return new EvalResult(setting, perClass, accuracy, distance, Floor(perClass, seed), seconds, images.MoveToOuterDisposeScope(), passes)
        {
            DecodeSecondsPerImage = decoding.Elapsed.TotalSeconds / total,
        };
    }

    /// <summary>Decoded images (n, C, S, S) in [-1, 1] as a PNG holds them (8 bits), centre-cropped to the judge's 28x28 when larger.</summary>
    public static Tensor AsJudged(Tensor decoded)
    {
        using var scope = NewDisposeScope();
        var eightBit = VaeReconstruction.ToEightBit(decoded.cpu());
        int size = ImageClassifier.ImageSize;
        var judged = eightBit.shape[^1] > size ? ImagePreprocessing.CropCentre(eightBit, size, size).contiguous() : eightBit;
        return judged.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Images for (class, seed) rows as the judge sees them (see <see cref="AsJudged"/>): per-row generators, guidance and
    /// step caches, as the service samples, decoded by <paramref name="autoencoder"/> (default: pixel space).
    /// </summary>
    public static Tensor Draw(DiTModel model, EvalSetting setting, (int Class, long Seed)[] rows, IAutoencoder? autoencoder = null,
        CancellationToken cancel = default)
    {
        using var scope = NewDisposeScope();
        using var pixels = autoencoder is null ? new PixelSpaceAutoencoder(model.Config.InChannels) : null;
        var samples = DrawSamples(model, setting, rows, out _, cancel);
        return AsJudged((autoencoder ?? pixels!).DecodeLatents(samples)).MoveToOuterDisposeScope();
    }

    /// <summary>The model's samples (N, C, h, w) on the CPU for (class, seed) rows, undecoded (latents for a latent model), and the rows' model passes.</summary>
    public static Tensor DrawSamples(DiTModel model, EvalSetting setting, (int Class, long Seed)[] rows, out ModelPasses passes, CancellationToken cancel = default)
    {
        var config = model.Config;
        var diffusion = new DiffusionOptions(LearnSigma: config.LearnSigma);
        var sampler = new Sampler(new SamplerSettings(setting.Sampler, setting.Steps, ClipDenoised: setting.Clip), diffusion);
        using var scope = NewDisposeScope();
        var caches = rows.Select(_ => new RowStepCache(setting.Cache)).ToArray();
        try
        {
            using var batch = new GuidedBatch<RowStepCache>(
                (x, t, y, layout, states) => model.Forward(x, t, y, RowStepCache.SlotsOf(states, layout.UnconditionalOf)),
                sampler, new GuidanceSetup(config.NumClasses, config.InChannels, GuidanceMode.AllChannels),
                [config.InChannels, config.InputSize, config.InputSize], model.parameters().First().device, ScalarType.Float32);
            foreach (var (row, cache) in rows.Zip(caches)) batch.Join(new GuidedRow(row.Seed, row.Class, setting.Guidance, setting.Interval), cache);
            var samples = batch.SampleToEnd(cancel);
            passes = caches.Aggregate(new ModelPasses(), (sum, c) => sum + c.Passes);
            return samples.cpu().MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var c in caches) c.Dispose();
        }
    }

    public void Dispose()
    {
        _testMean.Dispose();
        _testCovariance.Dispose();
    }
}
