using TorchSharp;
using static TorchSharp.torch;

namespace DiT.Training.Evaluation;

/// <summary>Trains <see cref="ImageClassifier"/>: Adam with a cosine learning-rate decay, cross-entropy, random horizontal flips (the DiT is trained on mirrors too), seeded.</summary>
public static class ClassifierTraining
{
    /// <summary>Trains a new classifier on (N, 1, 28, 28) images in [-1, 1] with labels (N); reports (epoch, step, loss).</summary>
    public static ImageClassifier Train(Tensor images, Tensor labels, int numClasses, int epochs = 5, int batchSize = 128,
        double learningRate = 1e-3, long seed = 0, Action<int, long, double>? report = null, CancellationToken cancel = default)
    {
        random.manual_seed(seed);
        var model = new ImageClassifier(numClasses);
        model.train();
        using var optimizer = new AdamWOptimizer(model.parameters(), learningRate, weightDecay: 0); // Adam: no decoupled decay
        using var generator = new Generator(unchecked((ulong)seed));
        long n = images.shape[0], step = 0;
        long totalSteps = epochs * (n / batchSize);
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            using var order = randperm(n, generator: generator);                                 // (N)
            for (long start = 0; start + batchSize <= n; start += batchSize)
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var rows = order.narrow(0, start, batchSize);                                     // (B)
                var x = images.index_select(0, rows);                                             // (B, 1, 28, 28)
                var flip = rand([batchSize, 1, 1, 1], generator: generator).LessThan(0.5);               // (B, 1, 1, 1)
                x = where(flip, x.flip(3), x);
                var loss = nn.functional.cross_entropy(model.forward(x), labels.index_select(0, rows));
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                step++;
                optimizer.LearningRate = learningRate * (1 + Math.Cos(Math.PI * step / totalSteps)) / 2; // cosine decay to 0
                report?.Invoke(epoch, step, loss.item<float>());
            }
        }
        model.eval();
        return model;
    }

    /// <summary>The share of images the classifier assigns to their label.</summary>
    public static double Accuracy(ImageClassifier classifier, Tensor images, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var (_, predictions) = classifier.Classify(images);
        return predictions.eq(labels).to(ScalarType.Float64).mean().item<double>();
    }
}
