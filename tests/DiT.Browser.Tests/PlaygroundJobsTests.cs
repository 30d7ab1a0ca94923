using System.Net.Http.Json;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace DiT.Browser.Tests;

/// <summary>The playground on the job API (grids) and loading a dropped image's settings into the form.</summary>
public sealed class PlaygroundJobsTests(BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    async Task<IPage> OpenAsync()
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync("/");
        await page.Locator("#class-hint", new() { HasTextString = "4 classes" }).WaitForAsync();
        return page;
    }

    /// <summary>A PNG made by the service: class 3 ("fish"), guidance 2.5 in sigma [1, 20], 4 ddpm steps with the fora:2 step cache, seed 77.</summary>
    async Task<byte[]> FishPngAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri(browser.BaseUrl) };
        var response = await http.PostAsJsonAsync("/generate",
            new { classId = 3, guidanceScale = 2.5, guidanceInterval = new[] { 1.0, 20.0 }, steps = 4, sampler = "ddpm", cache = "fora:2", seed = 77 });
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync();
    }

    static async Task AssertFormHoldsTheFishSettingsAsync(IPage page)
    {
        Assert.Equal("fish", await page.Locator("#class-input").InputValueAsync());
        Assert.Equal("2.5", await page.Locator("#guidance").InputValueAsync());
        Assert.True(await page.Locator("#interval-on").IsCheckedAsync());
        Assert.Equal(("1", "20"), (await page.Locator("#interval-low").InputValueAsync(), await page.Locator("#interval-high").InputValueAsync()));
        Assert.True(await page.Locator("#interval-low").IsEnabledAsync());
        Assert.Equal("4", await page.Locator("#steps").InputValueAsync());
        Assert.Equal("ddpm", await page.Locator("#sampler").InputValueAsync());
        Assert.Equal("fora:2", await page.Locator("#cache").InputValueAsync());
        Assert.False(await page.GetByLabel("Random seed").IsCheckedAsync());
        Assert.Equal("77", await page.Locator("#seed").InputValueAsync());
        Assert.True(await page.Locator("#seed").IsEnabledAsync());
    }

    [Fact]
    public async Task ASeedGridIsOneJobWhoseImagesFillTheCellsInSeedOrder()
    {
        var page = await OpenAsync();
        var posts = new List<string>();
        page.Request += (_, request) => { if (request.Method == "POST") posts.Add(new Uri(request.Url).AbsolutePath); };
        await page.Locator("#class-input").PressSequentiallyAsync("bi");
        await page.GetByRole(AriaRole.Option, new() { Name = "bird" }).ClickAsync();
        await page.GetByLabel("Grid: several seeds of this class").CheckAsync();
        await page.GetByLabel("Images in the grid").FillAsync("5");
        await page.GetByLabel("Random seed").UncheckAsync();
        await page.GetByLabel("Seed value").FillAsync("20");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        await page.Locator("#status", new() { HasTextString = "Done: 5 images" }).WaitForAsync();
        Assert.Equal(["/generations"], posts);
        Assert.Single(await page.EvaluateAsync<string[]>("() => window.playground.jobs"));
        Assert.Equal(Enumerable.Range(20, 5).Select(s => $"Generated image of class bird, seed {s}"),
            await page.Locator("#grid img").EvaluateAllAsync<string[]>("imgs => imgs.map(i => i.alt)"));
        Assert.True(await page.Locator("#grid img").EvaluateAllAsync<bool>("imgs => imgs.every(i => i.complete && i.naturalWidth === 8)"));
        Assert.Equal("5/5 images", await page.Locator("#progress-text").InnerTextAsync());
    }

    [Fact]
    public async Task AClassGridIsOneJobPerClass()
    {
        var page = await OpenAsync();
        await page.GetByLabel("Grid: one image per class").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        await page.Locator("#status", new() { HasTextString = "Done: 4 images" }).WaitForAsync();
        Assert.Equal(4, (await page.EvaluateAsync<string[]>("() => window.playground.jobs")).Distinct().Count());
    }

    [Fact]
    public async Task APngChosenWithTheFilePickerFillsTheFormAndMakesTheSameImageAgain()
    {
        var png = await FishPngAsync();
        var page = await OpenAsync();

        await page.SetInputFilesAsync("#load-settings", new FilePayload { Name = "fish.png", MimeType = "image/png", Buffer = png });

        await page.Locator("#status", new() { HasTextString = "Loaded the settings of fish.png: fish, seed 77." }).WaitForAsync();
        await AssertFormHoldsTheFishSettingsAsync(page);
        var sent = page.WaitForRequestAsync(r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == "/generate");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
        await page.GetByRole(AriaRole.Img, new() { Name = "Generated image of class fish, seed 77", Exact = true }).WaitForAsync();
        // The page's request, sent again, is the original file (the page keeps its image as a blob: URL, out of reach).
        using var http = new HttpClient { BaseAddress = new Uri(browser.BaseUrl) };
        var again = await http.PostAsync("/generate", new StringContent((await sent).PostData!, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(png, await again.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task APngDroppedOnTheFormFillsIt()
    {
        var png = await FishPngAsync();
        var page = await OpenAsync();
        await page.GetByLabel("Grid: one image per class").CheckAsync(); // loading switches back to one image

        await page.EvaluateAsync("""
            b64 => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                     const data = new DataTransfer();
                     data.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
                     document.getElementById('generate-form').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true })); }
            """, Convert.ToBase64String(png));

        await page.Locator("#status", new() { HasTextString = "Loaded the settings of dropped.png" }).WaitForAsync();
        await AssertFormHoldsTheFishSettingsAsync(page);
        Assert.True(await page.GetByLabel("One image", new() { Exact = true }).IsCheckedAsync());
        await BrowserFixture.ScreenshotAsync(page, "playground-loaded-settings", output);
    }

    [Fact]
    public async Task AFileWithoutSettingsShowsWhy()
    {
        var page = await OpenAsync();

        await page.SetInputFilesAsync("#load-settings", new FilePayload { Name = "notes.png", MimeType = "image/png", Buffer = "not a png"u8.ToArray() });

        await page.Locator("#error", new() { HasTextString = "Not a PNG file." }).WaitForAsync();
    }
}
