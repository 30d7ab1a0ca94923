using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using DiT.Api.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;

namespace DiT.Api.Tests.Generations;

/// <summary>Every image carries the parameters that make it again: PNG text chunks, EXIF UserComment and XMP for jpeg and webp.</summary>
public sealed class ImageMetadataTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    static readonly object Body = new { className = "puppy", guidanceScale = 3.0, steps = 2, sampler = "ddim", seed = 5 };

    async Task<(string Text, string Json)> ExpectedAsync(HttpClient client, HttpResponseMessage response)
    {
        var model = await client.GetFromJsonAsync<JsonElement>("/model");
        var name = model.GetProperty("name").GetString();
        var fingerprint = response.Header("X-Model-Fingerprint");
        var text = $"dog\nSteps: 2, Sampler: ddim, CFG scale: 3, Seed: 5, Size: 8x8, Model hash: {fingerprint}, Model: {name}, Class id: 1, " +
                   "Guidance mode: reference, Device: cpu, Dtype: float32, Guidance interval: 0.3-5, Step cache: off"; // the served default interval
        var json = $$"""{"classId":1,"className":"dog","seed":5,"sampler":"ddim","steps":2,"guidanceScale":3,"model":"{{name}}","modelFingerprint":"{{fingerprint}}","guidanceMode":"reference","width":8,"height":8,"device":"cpu","dtype":"float32","guidanceInterval":[0.3,5],"cache":"off"}""";
        return (text, json);
    }

    [Fact]
    public async Task APngCarriesTheParametersAsTextChunksA1111StyleAndJson()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.GenerateAsync(Body);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var (text, json) = await ExpectedAsync(client, response);

        using var image = Image.Load(bytes);
        var chunks = image.Metadata.GetPngMetadata().TextData.ToDictionary(t => t.Keyword, t => t.Value);
        Assert.Equal(text, chunks[ImageParameters.TextKeyword]);
        Assert.Equal(json, chunks[ImageParameters.JsonKeyword]);
        Assert.Equal(["parameters", "dit"], TextChunkKeywords(bytes)); // plain tEXt: what the playground's reader reads
    }

    [Theory]
    [InlineData("jpeg")]
    [InlineData("webp")]
    public async Task JpegAndWebpCarryTheSameTextAsExifUserCommentAndXmp(string format)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.GenerateAsync(new { className = "puppy", guidanceScale = 3.0, steps = 2, sampler = "ddim", seed = 5, format, quality = 80 });
        Assert.Equal($"image/{format}", response.Content.Headers.ContentType?.MediaType);
        var (text, json) = await ExpectedAsync(client, response);

        using var image = Image.Load(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(text, image.Metadata.ExifProfile?.GetValue(ExifTag.UserComment)?.Value);
        var xmp = XDocument.Parse(Encoding.UTF8.GetString(image.Metadata.XmpProfile!.ToByteArray()).Trim('\uFEFF', '\0'));
        Assert.Equal(text, xmp.Descendants(ImageEncoder.XmpNamespace + "parameters").Single().Value);
        Assert.Equal(json, xmp.Descendants(ImageEncoder.XmpNamespace + "json").Single().Value);
    }

    [Fact]
    public async Task TheJsonChunkMakesTheSameImageAgain()
    {
        var client = await factory.ReadyClientAsync();
        var first = await (await client.GenerateAsync(new { classId = 3, guidanceScale = 2.5, guidanceInterval = new[] { 1.0, 20.0 }, steps = 3, sampler = "ddpm" }))
            .Content.ReadAsByteArrayAsync();
        using var image = Image.Load(first);
        var parameters = JsonSerializer.Deserialize<JsonElement>(image.Metadata.GetPngMetadata().TextData.Single(t => t.Keyword == "dit").Value);

        var again = await client.GenerateAsync(new
        {
            classId = parameters.GetProperty("classId").GetInt32(),
            guidanceScale = parameters.GetProperty("guidanceScale").GetDouble(),
            guidanceInterval = parameters.GetProperty("guidanceInterval").EnumerateArray().Select(b => b.GetDouble()).ToArray(),
            steps = parameters.GetProperty("steps").GetInt32(),
            sampler = parameters.GetProperty("sampler").GetString(),
            cache = parameters.GetProperty("cache").GetString(),
            seed = parameters.GetProperty("seed").GetInt64(), // drawn by the service the first time
        });

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(first, await again.Content.ReadAsByteArrayAsync());
    }

    /// <summary>Keywords of the PNG's tEXt chunks, read from the bytes (length, type, data, CRC per chunk).</summary>
    static List<string> TextChunkKeywords(byte[] png)
    {
        var keywords = new List<string>();
        for (int at = 8; at + 8 <= png.Length;)
        {
            int length = (png[at] << 24) | (png[at + 1] << 16) | (png[at + 2] << 8) | png[at + 3];
            if (Encoding.ASCII.GetString(png, at + 4, 4) == "tEXt")
                keywords.Add(Encoding.Latin1.GetString(png, at + 8, Array.IndexOf(png, (byte)0, at + 8) - (at + 8)));
            at += 12 + length;
        }
        return keywords;
    }
}
