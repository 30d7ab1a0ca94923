using System.Text.Json;
using Microsoft.Extensions.Options;

namespace DiT.Api.Tests;

public sealed class StartupTests
{
    [Fact]
    public async Task ShippedSettingsServeTheEmbeddedFashionMnistModel()
    {
        // The path as appsettings.json gives it: relative, resolved against the app's folder.
        using var factory = new ApiFactory().With("Model:CheckpointPath", "models/fashion-mnist/dit-fmnist.safetensors");
        var client = await factory.ReadyClientAsync();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/model"));

        Assert.False(json.RootElement.GetProperty("isUntrainedDefault").GetBoolean());
        Assert.Equal(10, json.RootElement.GetProperty("numClasses").GetInt32());
        var response = await client.GenerateAsync(new { className = "sneaker", steps = 2, seed = 1 });
        using var image = SixLabors.ImageSharp.Image.Load(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal((28, 28), (image.Width, image.Height));
    }

    [Fact]
    public async Task WithAnEmptyCheckpointPathTheServiceServesTheUntrainedDefaultModelAndSaysSo()
    {
        using var factory = new ApiFactory().With("Model:CheckpointPath", "");
        var client = await factory.ReadyClientAsync();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/model"));

        Assert.True(json.RootElement.GetProperty("isUntrainedDefault").GetBoolean());
        Assert.Contains("untrained", json.RootElement.GetProperty("name").GetString());
        var response = await client.GenerateAsync(new { className = "ankle boot", steps = 2, seed = 1 });
        using var image = SixLabors.ImageSharp.Image.Load(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal((28, 28), (image.Width, image.Height));
    }

    [Fact]
    public void AMissingCheckpointStopsStartUpWithAClearMessage()
    {
        using var factory = new ApiFactory().With("Model:CheckpointPath", "/nowhere/model.safetensors");
        var error = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("Model:CheckpointPath '/nowhere/model.safetensors' does not exist", error.Message);
    }

    [Fact]
    public void ACorruptCheckpointStopsStartUpWithAClearMessage()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("dit-api-bad-").FullName, "bad.safetensors");
        File.WriteAllText(path, "not a checkpoint");
        using var factory = new ApiFactory().With("Model:CheckpointPath", path);
        var error = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("readable safetensors", error.Message);
    }

    [Fact]
    public void AnInvalidDefaultGuidanceIntervalStopsStartUp()
    {
        using var factory = new ApiFactory().With("Engine:DefaultGuidanceInterval", "5-0.3");
        var error = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("Engine:DefaultGuidanceInterval '5-0.3' must be empty or LOW-HIGH", error.Message);
    }

    [Fact]
    public void AnUnknownDefaultSamplerStopsStartUp()
    {
        using var factory = new ApiFactory().With("Engine:DefaultSampler", "euler");
        var error = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("Engine:DefaultSampler", error.Message);
    }
}
