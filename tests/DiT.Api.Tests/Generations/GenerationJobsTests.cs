using System.Net;
using System.Net.ServerSentEvents;
using DiT.Api.Generations;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Api.Tests.Generations;

/// <summary>POST /generations over HTTP with the tiny real model: submit, follow, fetch, equal to /generate.</summary>
public sealed class GenerationJobsTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task SubmitAnswers202WithTheJobAndItsLinks()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.SubmitAsync(new { className = "bird", n = 2, steps = 2, seed = 40, guidanceScale = 4.0 });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await response.JobAsync();
        Assert.Matches("^[0-9a-f]{32}$", job.Id);
        Assert.Contains(job.Status, new[] { "queued", "running", "succeeded" });
        Assert.Equal($"/generations/{job.Id}", response.Headers.Location?.OriginalString);
        Assert.Equal(new GenerationLinks($"/generations/{job.Id}", $"/generations/{job.Id}/events"), job.Links);
        Assert.Equal([0.3, 5], job.Request.GuidanceInterval); // guided, so Engine:DefaultGuidanceInterval applies
        Assert.Equal(new GenerationRequestView(2, "bird", 4.0, job.Request.GuidanceInterval, 2, "ddim", "off", 40, 2, "png", null), job.Request);
        Assert.Equal(4, job.Progress.TotalSteps);
    }

    [Fact]
    public async Task EveryImageEqualsGenerateWithItsSeedAndTheJobReportsEach()
    {
        var client = await factory.ReadyClientAsync();
        var body = new { classId = 1, guidanceScale = 2.0, steps = 3, sampler = "ddpm", seed = 100, n = 3 };
        var submitted = await (await client.SubmitAsync(body)).JobAsync();
        await factory.Job(submitted.Id).Ended;

        var job = await (await client.GetAsync($"/generations/{submitted.Id}")).JobAsync();
        Assert.Equal("succeeded", job.Status);
        Assert.Equal(new GenerationProgressView(3, 3, 9, 9), job.Progress);
        Assert.Equal([0, 1, 2], job.Images.Select(i => i.Index));
        Assert.Equal([100L, 101, 102], job.Images.Select(i => i.Seed));
        Assert.NotNull(job.FinishedAt);
        Assert.Equal(job.FinishedAt + TimeSpan.FromHours(1), job.ExpiresAt);
        foreach (var image in job.Images)
        {
            Assert.Equal((8, 8, "image/png", false), (image.Width, image.Height, image.ContentType, image.CacheHit));
            var fetched = await client.GetAsync(image.Url);
            Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
            Assert.Equal("image/png", fetched.Content.Headers.ContentType?.MediaType);
            Assert.Equal(image.Seed.ToString(), fetched.Header("X-Seed"));
            var bytes = await fetched.Content.ReadAsByteArrayAsync();
            Assert.Equal(image.Bytes, bytes.Length);

            var alone = await client.GenerateAsync(new { classId = 1, guidanceScale = 2.0, steps = 3, sampler = "ddpm", seed = image.Seed });
            var aloneBytes = await alone.Content.ReadAsByteArrayAsync();
            Assert.Equal(aloneBytes, bytes); // same pixels and the same parameters inside
            using var a = Image.Load<Rgb24>(aloneBytes);
            using var b = Image.Load<Rgb24>(bytes);
            Assert.True(Pixels(a).SequenceEqual(Pixels(b)));
        }
        Assert.NotEqual(await client.GetByteArrayAsync(job.Images[0].Url), await client.GetByteArrayAsync(job.Images[1].Url));
    }

    [Fact]
    public async Task JpegAndWebpJobsEqualGenerateInTheSameFormat()
    {
        var client = await factory.ReadyClientAsync();
        foreach (var (format, quality) in new[] { ("jpeg", 70), ("webp", 60) })
        {
            var submitted = await (await client.SubmitAsync(new { classId = 2, steps = 2, seed = 9, n = 2, format, quality })).JobAsync();
            await factory.Job(submitted.Id).Ended;
            var job = await (await client.GetAsync(submitted.Links.Self)).JobAsync();
            Assert.Equal((format, (int?)quality), (job.Request.Format, job.Request.Quality));
            foreach (var image in job.Images)
            {
                var fetched = await client.GetAsync(image.Url);
                Assert.Equal($"image/{format}", fetched.Content.Headers.ContentType?.MediaType);
                var alone = await client.GenerateAsync(new { classId = 2, steps = 2, seed = image.Seed, format, quality });
                Assert.Equal($"image/{format}", alone.Content.Headers.ContentType?.MediaType);
                Assert.Equal(await alone.Content.ReadAsByteArrayAsync(), await fetched.Content.ReadAsByteArrayAsync());
            }
        }
    }

    [Fact]
    public async Task WithoutASeedOneIsChosenForTheJobAndImagesCountUpFromIt()
    {
        var client = await factory.ReadyClientAsync();
        var submitted = await (await client.SubmitAsync(new { className = "fish", steps = 1, n = 4 })).JobAsync();
        await factory.Job(submitted.Id).Ended;

        var job = await (await client.GetAsync(submitted.Links.Self)).JobAsync();
        Assert.Equal(submitted.Request.Seed, job.Request.Seed);
        Assert.Equal(Enumerable.Range(0, 4).Select(k => job.Request.Seed + k), job.Images.Select(i => i.Seed));
    }

    [Fact]
    public async Task EventsReportEveryStepInOrderThenTheImageThenTheEnd()
    {
        using var held = new ApiFactory();
        var client = await held.ReadyClientAsync();
        // A gate at every step stops the engine thread right after the job reports it, until the test has seen it.
        var gates = Enumerable.Range(1, 5).Select(step => held.Probe.GateAt(seed: 11, step)).ToArray();
        GenerationView job;
        IAsyncEnumerator<SseItem<string>> events;
        using (held.Probe.Engine.HoldAdmissions()) // subscribed before the first step
        {
            job = await (await client.SubmitAsync(new { classId = 3, steps = 5, seed = 11 })).JobAsync();
            await held.Probe.EnteredAsync(1);
            events = await client.EventsAsync(job.Id);
            var first = await events.NextAsync();
            Assert.Equal(("job", 0), (first.EventType, first.Data<GenerationView>().Progress.StepsDone));
        }

        foreach (var (gate, step) in gates.Select((g, i) => (g, i + 1)))
        {
            await gate.Reached;
            var progress = await events.NextAsync();
            Assert.Equal("progress", progress.EventType);
            Assert.Equal(new GenerationsApi.GenerationProgressEvent("running", 0, 1, step, 5), progress.Data<GenerationsApi.GenerationProgressEvent>());
            gate.Release();
        }
        var rest = await events.UntilEndAsync();
        Assert.Equal(["image", "end"], rest.Select(e => e.EventType));
        Assert.Equal(new GenerationImageView(0, 11, $"/generations/{job.Id}/images/0", 8, 8, "image/png", rest[0].Data<GenerationImageView>().Bytes, false),
            rest[0].Data<GenerationImageView>());
        var end = rest[1].Data<GenerationView>();
        Assert.Equal(("succeeded", 5, 1), (end.Status, end.Progress.StepsDone, end.Images.Count));
    }

    [Fact]
    public async Task EventsOfAnEndedJobAreTheJobThenTheEnd()
    {
        var client = await factory.ReadyClientAsync();
        var job = await (await client.SubmitAsync(new { classId = 0, steps = 1, n = 2 })).JobAsync();
        await factory.Job(job.Id).Ended;

        var events = await (await client.EventsAsync(job.Id)).UntilEndAsync();
        Assert.Equal(["job", "end"], events.Select(e => e.EventType));
        Assert.Equal(2, events[1].Data<GenerationView>().Images.Count);
    }

    [Fact]
    public async Task ProgressOfAJobOfManyImagesOnlyMovesForwardAndEveryImageIsReportedOnce()
    {
        var client = await factory.ReadyClientAsync();
        var job = await (await client.SubmitAsync(new { classId = 0, steps = 3, seed = 1, n = 8 })).JobAsync();
        var events = await (await client.EventsAsync(job.Id)).UntilEndAsync();

        var progress = events.Where(e => e.EventType == "progress").Select(e => e.Data<GenerationsApi.GenerationProgressEvent>().StepsDone).ToList();
        Assert.Equal(progress.Order().Distinct(), progress);
        var reported = events[0].Data<GenerationView>().Images.Select(i => i.Index) // done before we subscribed
            .Concat(events.Where(e => e.EventType == "image").Select(e => e.Data<GenerationImageView>().Index));
        Assert.Equal(Enumerable.Range(0, 8), reported.Order());
        Assert.Equal(("succeeded", 8), (events[^1].Data<GenerationView>().Status, events[^1].Data<GenerationView>().Images.Count));
    }

    static byte[] Pixels(Image<Rgb24> image)
    {
        var pixels = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(pixels);
        return pixels;
    }
}
