namespace DiT.Training.Tests;

public class TrainingOptionsTests
{
    [Fact]
    public void ReferenceRecipeIsValid() => Assert.Empty(new TrainingOptions().Validate());

    [Theory]
    [InlineData("learningRate", 0.0)]
    [InlineData("learningRate", 1.5)]
    [InlineData("emaDecay", 1.0)]
    [InlineData("emaDecay", -0.1)]
    [InlineData("steps", 0.0)]
    [InlineData("steps", 1e9)]
    [InlineData("batchSize", 0.0)]
    [InlineData("batchSize", 100000.0)]
    [InlineData("checkpointEvery", 0.0)]
    [InlineData("imageSize", -8.0)]
    [InlineData("seed", -1.0)]
    public void AbsurdValueIsReportedUnderItsFieldName(string field, double value)
    {
        var options = field switch
        {
            "learningRate" => new TrainingOptions { LearningRate = value },
            "emaDecay" => new TrainingOptions { EmaDecay = value },
            "steps" => new TrainingOptions { Steps = (int)Math.Min(value, int.MaxValue) },
            "batchSize" => new TrainingOptions { BatchSize = (int)value },
            "checkpointEvery" => new TrainingOptions { CheckpointEvery = (int)value },
            "seed" => new TrainingOptions { Seed = (long)value },
            _ => new TrainingOptions { ImageSize = (int)value },
        };
        var errors = options.Validate();
        Assert.Equal([field], errors.Keys);
    }
}
