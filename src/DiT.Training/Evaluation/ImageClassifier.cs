// Field names are the checkpoint's state-dict keys, hence snake_case.
#pragma warning disable IDE1006, CA1707
using DiT.Model.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace DiT.Training.Evaluation;

/// <summary>
/// The small CNN that judges generated 28x28 grey images: two 3x3 conv + ReLU + 2x2 max-pool stages (32, 64 channels),
/// a 128-wide hidden layer whose ReLU output is the feature vector for the Frechet distance, and a linear head.
/// Input (N, 1, 28, 28) in [-1, 1], the DiT's pixel range.
/// </summary>
public sealed class ImageClassifier : Module<Tensor, Tensor>
{
    public const int FeatureSize = 128, ImageSize = 28;

    readonly Conv2d conv1, conv2;
    readonly Linear fc, head;

    public ImageClassifier(int numClasses) : base(nameof(ImageClassifier))
    {
        conv1 = Conv2d(1, 32, 3, padding: 1);
        conv2 = Conv2d(32, 64, 3, padding: 1);
        fc = Linear(64 * 7 * 7, FeatureSize);
        head = Linear(FeatureSize, numClasses);
        NumClasses = numClasses;
        RegisterComponents();
    }

    public int NumClasses { get; }

    /// <summary>The penultimate-layer features (N, 128).</summary>
    public Tensor Features(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = functional.max_pool2d(functional.relu(conv1.forward(images)), 2);   // (N, 32, 14, 14)
        x = functional.max_pool2d(functional.relu(conv2.forward(x)), 2);            // (N, 64, 7, 7)
        return functional.relu(fc.forward(x.flatten(1))).MoveToOuterDisposeScope(); // (N, 128)
    }

    /// <summary>Class logits (N, classes).</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var features = Features(images);                                            // (N, 128)
        return head.forward(features).MoveToOuterDisposeScope();                    // (N, classes)
    }

    /// <summary>Features and predicted class of many images, in batches, without gradients.</summary>
    public (Tensor Features, Tensor Predictions) Classify(Tensor images, int batchSize = 500)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var features = new List<Tensor>();
        var predictions = new List<Tensor>();
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            var f = Features(images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start)));  // (b, 128)
            features.Add(f);
            predictions.Add(head.forward(f).argmax(1));                                                // (b)
        }
        return (cat(features, 0).MoveToOuterDisposeScope(), cat(predictions, 0).MoveToOuterDisposeScope());
    }

    /// <summary>Saves the weights as fp16 safetensors (small; features are computed in fp32 after loading).</summary>
    public void Save(string path)
    {
        using var scope = NewDisposeScope();
        var tensors = state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float16));
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["classes"] = NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Loads weights saved by <see cref="Save"/> (fp32 on the CPU, eval mode).</summary>
    public static ImageClassifier Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No classifier weights at '{path}' (make them with `dit train-classifier`).", path);
        var stored = Safetensors.Load(path);
        try
        {
            var numClasses = (int)stored["head.weight"].shape[0];
            var model = new ImageClassifier(numClasses);
            StateDicts.CopyStrict(model, stored, path);
            model.eval();
            return model;
        }
        finally { foreach (var t in stored.Values) t.Dispose(); }
    }
}
