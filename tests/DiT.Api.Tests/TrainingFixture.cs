using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DiT.Testing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Api.Tests;

/// <summary>
/// A data root with generated image folders for fine-tuning tests: "good" (4 classes of 8x8 RGB PNGs, matching
/// <see cref="ApiFactory.TinyConfig"/>), "three" (3 classes), "empty" (a class without images), "broken" (an unreadable
/// PNG), "escape" (a symlink to a folder outside the root), "classlink" and "imagelink" (a class folder and an image
/// linked out of the root), "fifo" (a named pipe among the images), "checkpoints" (every malformed safetensors shape of
/// <see cref="CraftedFiles.MalformedSafetensors"/> and a FIFO), plus a jobs folder. Deleted on dispose.
/// </summary>
public sealed class TrainingData : IDisposable
{
    public const string Key = "train-key";

    public TrainingData()
    {
        Root = Directory.CreateTempSubdirectory("dit-train-api-").FullName;
        Data = Path.Combine(Root, "data");
        WriteClasses(Path.Combine(Data, "good"), 4);
        WriteClasses(Path.Combine(Data, "three"), 3);
        Directory.CreateDirectory(Path.Combine(Data, "empty", "a"));
        WriteClasses(Path.Combine(Data, "broken"), 4);
        File.WriteAllText(Path.Combine(Data, "broken", "c1", "bad.png"), "not a png");
        WriteClasses(Path.Combine(Root, "outside"), 4);
        Directory.CreateSymbolicLink(Path.Combine(Data, "escape"), Path.Combine(Root, "outside"));
        WriteClasses(Path.Combine(Data, "classlink"), 3);
        Directory.CreateSymbolicLink(Path.Combine(Data, "classlink", "c3"), Path.Combine(Root, "outside", "c3"));
        WriteClasses(Path.Combine(Data, "imagelink"), 4);
        File.CreateSymbolicLink(Path.Combine(Data, "imagelink", "c0", "stolen.png"), Path.Combine(Root, "outside", "c0", "0.png"));
        WriteClasses(Path.Combine(Data, "fifo"), 4);
        CraftedFiles.Fifo(Path.Combine(Data, "fifo", "c1", "pipe.png"));
        Directory.CreateDirectory(Checkpoints);
        foreach (var (kind, bytes) in CraftedFiles.MalformedSafetensors) File.WriteAllBytes(CheckpointOf(kind), bytes);
        CraftedFiles.Fifo(CheckpointOf("fifo"));
        _shared = new Lazy<ApiFactory>(() => Factory());
    }

    /// <summary>One factory for the tests of a class that start no job (a host per test would only cost start-up time).</summary>
    public ApiFactory Shared => _shared.Value;
    readonly Lazy<ApiFactory> _shared;

    public string Root { get; }
    public string Data { get; }
    public string Good => Path.Combine(Data, "good");
    public string Checkpoints => Path.Combine(Data, "checkpoints");
    public string CheckpointOf(string kind) => Path.Combine(Checkpoints, kind.Replace(' ', '-') + ".safetensors");

    /// <summary>An API factory serving the tiny model, with admin on and this data root; each factory gets its own jobs folder unless given one.</summary>
    public ApiFactory Factory(string? jobsFolder = null) => new ApiFactory()
        .With("Admin:ApiKey", Key)
        .With("Training:DataRoots:0", Data)
        .With("Training:JobsFolder", jobsFolder ?? Path.Combine(Root, "jobs-" + Guid.NewGuid().ToString("N")[..8]))
        .With("Training:Device", "cpu");

    public static async Task<HttpClient> AdminClientAsync(ApiFactory factory)
    {
        var client = await factory.ReadyClientAsync();
        client.DefaultRequestHeaders.Add("X-Api-Key", Key);
        return client;
    }

    static void WriteClasses(string root, int classes)
    {
        var random = new Random(classes);
        for (int c = 0; c < classes; c++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, $"c{c}")).FullName;
            for (int k = 0; k < 3; k++)
            {
                using var image = new Image<Rgb24>(8, 8);
                for (int y = 0; y < 8; y++)
                    for (int x = 0; x < 8; x++)
                        image[x, y] = new Rgb24((byte)(c * 60 + random.Next(40)), (byte)(x * 30), (byte)(y * 30));
                image.SaveAsPng(Path.Combine(dir, $"{k}.png"));
            }
        }
    }

    public void Dispose()
    {
        if (_shared.IsValueCreated) _shared.Value.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Calls of the fine-tuning endpoints.</summary>
public static class TrainingHttp
{
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>Starts a job and returns its id (asserting 202 and the Location header).</summary>
    public static async Task<string> StartJobAsync(this HttpClient client, object body)
    {
        var response = await client.PostAsJsonAsync("/admin/finetune", body);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var job = await response.JsonAsync();
        var id = job.GetProperty("id").GetString()!;
        Assert.Equal($"/admin/jobs/{id}", response.Headers.Location?.ToString());
        return id;
    }

    public static async Task<JsonElement> JobAsync(this HttpClient client, string id) =>
        await (await client.GetAsync($"/admin/jobs/{id}")).JsonAsync();

    /// <summary>Polls the job until <paramref name="until"/> holds: a state it is certain to reach, never an ordering
    /// (the deadline is the hang guard).</summary>
    public static async Task<JsonElement> WaitForJobAsync(this HttpClient client, string id, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + Hang.Guard;
        while (true)
        {
            var job = await client.JobAsync(id);
            if (until(job)) return job;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Job {id} did not reach the expected state: {job}");
            await Task.Delay(50);
        }
    }

    public static Func<JsonElement, bool> InState(string state) => j => j.GetProperty("state").GetString() == state;

    public static Func<JsonElement, bool> TrainingFrom(long minStep) =>
        j => j.GetProperty("phase").GetString() == "training" && j.GetProperty("step").GetInt64() >= minStep;
}
