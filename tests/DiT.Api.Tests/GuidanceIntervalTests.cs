using System.Net;
using DiT.Diffusion;
using DiT.Serving.Engine;
using DiT.Serving.Options;
using Microsoft.Extensions.Options;

namespace DiT.Api.Tests;

/// <summary>
/// Per-request guidance intervals: each row is guided only at its own noise levels, so a seed gives the same image alone,
/// in a batch of other intervals, and joining a running batch mid-way. The engine's pipeline is driven step by step
/// here (no timing): the test decides when a row joins.
/// </summary>
public sealed class GuidanceIntervalTests(ApiFactory factory) : IClassFixture<ApiFactory>
{
    static readonly GuidanceInterval Interval = new(0.5, 20);

    static IBatchPipeline TinyPipeline() => new PipelineLoader(
        Microsoft.Extensions.Options.Options.Create(new ModelOptions { CheckpointPath = ApiFactory.TinyCheckpointPath, Device = "cpu" }),
        Microsoft.Extensions.Options.Options.Create(new EngineOptions())).Load();

    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.DpmSolverPP2M)]
    public void ASeedWithAGuidanceIntervalGivesTheSameImageAloneInABatchAndJoiningARunningBatch(SamplerKind sampler)
    {
        using var pipeline = TinyPipeline();
        var target = new GenerationRequest(2, 8.0, 12, sampler, 5, Interval);
        var others = new[]
        {
            new GenerationRequest(0, 8.0, 12, sampler, 6),                                     // guided at every step
            new GenerationRequest(1, 3.0, 12, sampler, 7, new GuidanceInterval(0, 1)),
            new GenerationRequest(3, 1.0, 12, sampler, 8),
        };

        var alone = Whole(pipeline, target)[0];
        var inWholeBatch = Whole(pipeline, others[0], target, others[1], others[2])[1];
        var everyStep = Whole(pipeline, target with { GuidanceInterval = null })[0];

        using var running = pipeline.StartRunningBatch(sampler, 12);
        for (int i = 0; i < others.Length; i++) running.Join(i, others[i]);
        for (int step = 0; step < 5; step++) Assert.Empty(running.Step());                    // the others are 5 steps in
        running.Join(99, target);
        RawImage? joined = null;
        while (running.Count > 0)
            foreach (var finished in running.Step())
                if (finished.Id == 99) joined = finished.Image;

        Assert.Equal(alone.Pixels, inWholeBatch.Pixels);
        Assert.Equal(alone.Pixels, joined!.Pixels);
        Assert.NotEqual(alone.Pixels, everyStep.Pixels);
    }

    /// <summary>Whole batching: every request joins before the first step; images in join order.</summary>
    static RawImage[] Whole(IBatchPipeline pipeline, params GenerationRequest[] requests)
    {
        using var rows = pipeline.StartRunningBatch(requests[0].Sampler, requests[0].Steps);
        for (int i = 0; i < requests.Length; i++) rows.Join(i, requests[i]);
        var images = new RawImage[requests.Length];
        while (rows.Count > 0)
            foreach (var finished in rows.Step()) images[finished.Id] = finished.Image;
        return images;
    }

    /// <summary>The image's pixels (the PNG's bytes differ anyway: each file carries its own request's parameters).</summary>
    static async Task<byte[]> Png(HttpClient client, object body)
    {
        var response = await client.GenerateAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var image = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(await response.Content.ReadAsByteArrayAsync());
        var pixels = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(pixels);
        return pixels;
    }

    [Fact]
    public async Task AnIntervalHoldingEveryStepIsPlainGuidanceAndOneHoldingNoneIsNoGuidance()
    {
        var client = await factory.ReadyClientAsync();
        Task<byte[]> Png(object body) => GuidanceIntervalTests.Png(client, body);

        var guided = await Png(new { classId = 1, guidanceScale = 8.0, guidanceInterval = Array.Empty<double>(), steps = 4, sampler = "dpmpp-2m", seed = 21 });
        var unguided = await Png(new { classId = 1, guidanceScale = 1.0, steps = 4, sampler = "dpmpp-2m", seed = 21 });
        var wholeSchedule = await Png(new { classId = 1, guidanceScale = 8.0, guidanceInterval = new[] { 0.0, 1000.0 }, steps = 4, sampler = "dpmpp-2m", seed = 21 });
        var noStep = await Png(new { classId = 1, guidanceScale = 8.0, guidanceInterval = new[] { 500.0, 1000.0 }, steps = 4, sampler = "dpmpp-2m", seed = 21 });

        Assert.NotEqual(guided, unguided);
        Assert.Equal(guided, wholeSchedule);
        Assert.Equal(unguided, noStep);
    }

    [Fact]
    public async Task TheDefaultIntervalAppliesToGuidedRequestsThatGiveNoneAndAnEmptyOneOptsOut()
    {
        using var withDefault = new ApiFactory().With("Engine:DefaultGuidanceInterval", "500-1000"); // no step inside
        var client = await withDefault.ReadyClientAsync();
        Task<byte[]> Png(object body) => GuidanceIntervalTests.Png(client, body);

        var byDefault = await Png(new { classId = 1, guidanceScale = 8.0, steps = 4, sampler = "dpmpp-2m", seed = 21 });
        var unguided = await Png(new { classId = 1, guidanceScale = 1.0, steps = 4, sampler = "dpmpp-2m", seed = 21 });
        var everyStep = await Png(new { classId = 1, guidanceScale = 8.0, guidanceInterval = Array.Empty<double>(), steps = 4, sampler = "dpmpp-2m", seed = 21 });
        var wholeSchedule = await Png(new { classId = 1, guidanceScale = 8.0, guidanceInterval = new[] { 0.0, 1000.0 }, steps = 4, sampler = "dpmpp-2m", seed = 21 });

        Assert.Equal(unguided, byDefault);
        Assert.Equal(wholeSchedule, everyStep);
        Assert.NotEqual(unguided, everyStep);
    }
}
