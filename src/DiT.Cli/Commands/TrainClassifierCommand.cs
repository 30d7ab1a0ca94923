using System.Globalization;
using DiT.Training.Data;
using DiT.Training.Evaluation;
using static TorchSharp.torch;

namespace DiT.Cli.Commands;

/// <summary>`dit train-classifier`: trains the Fashion-MNIST CNN that `dit eval` judges samples with, and reports its test accuracy.</summary>
public sealed class TrainClassifierCommand : ICommand
{
    public string Summary => "train the judge CNN: --data FASHION-MNIST-DIR --out classifier.safetensors [--epochs 5] [--seed 0] [--threads N]";

    public int Run(CommandLine args)
    {
        if (args.Has("threads")) set_num_threads(args.Int("threads", 1));
        var folder = args.String("data") ?? throw new ArgumentException("--data is required: the Fashion-MNIST folder (train-* and t10k-* IDX files).");
        var outPath = args.String("out") ?? throw new ArgumentException("--out is required: the classifier weights file (.safetensors).");
        int epochs = args.Int("epochs", 5);
        if (epochs < 1) throw new ArgumentException($"--epochs must be >= 1; got {epochs}.");
        var train = FashionMnistDataset.Open(folder);
        var test = FashionMnistDataset.OpenTest(folder);
        var (trainImages, trainLabels) = train.ToTensors();
        var (testImages, testLabels) = test.ToTensors();
        using (trainImages) using (trainLabels) using (testImages) using (testLabels)
        {
            using var classifier = ClassifierTraining.Train(trainImages, trainLabels, train.ClassNames.Count, epochs, seed: args.Long("seed", 0),
                report: (epoch, step, loss) => { if (step % 100 == 0) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch + 1} step {step} loss {loss:F4}")); });
            double accuracy = ClassifierTraining.Accuracy(classifier, testImages, testLabels);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test accuracy {accuracy:P2} ({testLabels.shape[0]} images)"));
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            classifier.Save(outPath);
            Console.WriteLine($"saved {outPath}");
        }
        return 0;
    }
}
