using System.Net;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Api.Tests;

/// <summary>
/// The committed latent Fashion-MNIST model (models/fashion-mnist-latent: a DiT on 8x8x4 latents and the VAE that
/// decodes them) served as a user would: Model:CheckpointPath + Model:VaePath, paths relative as in appsettings.json.
/// </summary>
public sealed class LatentModelTests : IDisposable
{
    readonly ApiFactory _factory = new ApiFactory()
        .With("Model:CheckpointPath", "models/fashion-mnist-latent/dit-latent.safetensors")
        .With("Model:VaePath", "models/fashion-mnist-latent/vae")
        .With("Engine:DefaultSteps", "20")
        .With("Engine:DefaultSampler", "dpmpp-2m");

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task ServesDecodedThirtyTwoPixelGreyImagesOfItsTenClasses()
    {
        var client = await _factory.ReadyClientAsync();
        using var model = JsonDocument.Parse(await client.GetStringAsync("/model"));
        Assert.Equal(10, model.RootElement.GetProperty("numClasses").GetInt32());

        var response = await client.GenerateAsync(new { className = "trouser", seed = 7 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        using var image = Image.Load<L8>(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal((32, 32), (image.Width, image.Height));
        // A decoded image, not latents drawn as pixels: Fashion-MNIST's black border (the padding from 28 to 32) survives.
        var border = Enumerable.Range(0, 32).SelectMany(i => new[] { image[i, 0].PackedValue, image[0, i].PackedValue, image[i, 31].PackedValue, image[31, i].PackedValue });
        Assert.True(border.Average(v => v) < 40, $"mean border level {border.Average(v => v):F1} of 255");
        var centre = Enumerable.Range(8, 16).SelectMany(y => Enumerable.Range(8, 16).Select(x => (int)image[x, y].PackedValue));
        Assert.True(centre.Max() > 100, "a trouser is drawn in the middle");
    }

    [Fact]
    public async Task ASeedGivesTheSamePngAloneAndInABatch()
    {
        var client = await _factory.ReadyClientAsync();
        var target = new { classId = 7, seed = 1234, guidanceScale = 2.0 };
        var alone = await client.GenerateAsync(target);
        var aloneBytes = await alone.Content.ReadAsByteArrayAsync();

        var others = new object[]
        {
            new { classId = 0, seed = 1, guidanceScale = 1.0 },
            new { classId = 9, seed = 99, guidanceScale = 4.0 },
            new { classId = 7, seed = 1235, guidanceScale = 2.0 },
        };
        var all = await _factory.Probe.GenerateTogetherAsync(client, others.Prepend(target));

        Assert.All(all, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal("4", all[0].Header("X-Batch-Size"));
        Assert.Equal("1", alone.Header("X-Batch-Size"));
        Assert.Equal(aloneBytes, await all[0].Content.ReadAsByteArrayAsync());
        Assert.NotEqual(aloneBytes, await all[3].Content.ReadAsByteArrayAsync());
    }
}
