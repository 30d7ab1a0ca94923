using System.Text.Json;
using System.Text.RegularExpressions;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace DiT.Browser.Tests;

/// <summary>The playground page at / in a real browser: class search, progress over SSE, the image, grid and errors.</summary>
public sealed class PlaygroundTests(BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    const int Steps = 40; // enough steps of the tiny model that progress is visible before the image

    sealed record Progress(int Step, int TotalSteps);

    async Task<IPage> OpenAsync()
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync("/");
        await page.Locator("#class-hint", new() { HasTextString = "4 classes" }).WaitForAsync(); // model, classes and limits loaded
        return page;
    }

    static async Task PickClassAsync(IPage page, string typed, string name)
    {
        await page.Locator("#class-input").PressSequentiallyAsync(typed);
        await page.GetByRole(AriaRole.Option, new() { Name = name }).ClickAsync();
    }

    [Fact]
    public async Task GeneratesAnImageOfAClassPickedByNameWithProgress()
    {
        var page = await OpenAsync();
        await PickClassAsync(page, "retr", "golden retriever"); // a synonym of class 1 ("dog, puppy, golden retriever")
        Assert.Equal("golden retriever", await page.Locator("#class-input").InputValueAsync());
        await page.Locator("#steps").FillAsync(Steps.ToString());
        await page.GetByLabel("Random seed").UncheckAsync();
        await page.GetByLabel("Seed value").FillAsync("1234");
        // Every text the progress label shows, as rendered.
        await page.EvaluateAsync("""
            () => { window.progressTexts = [];
                    new MutationObserver(() => window.progressTexts.push(document.getElementById('progress-text').textContent))
                        .observe(document.getElementById('progress-text'), { childList: true, characterData: true, subtree: true }); }
            """);

        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        var image = page.GetByRole(AriaRole.Img, new() { Name = "Generated image of class golden retriever, seed 1234", Exact = true });
        await image.WaitForAsync();
        await page.WaitForFunctionAsync("img => img.complete && img.naturalWidth > 0", await image.ElementHandleAsync());
        var caption = await page.Locator("#result-caption").InnerTextAsync();
        Assert.Matches(@"^golden retriever · seed 1234 · \d+ ms \(queue \d+ ms, batch of 1\)$", caption);
        Assert.Contains("seed 1234", await page.Locator("#status").InnerTextAsync()); // the aria-live region

        var events = JsonSerializer.Deserialize<Progress[]>(
            await page.EvaluateAsync<string>("() => JSON.stringify(window.playground.progressEvents)"), JsonSerializerOptions.Web)!;
        var rendered = await page.EvaluateAsync<string[]>("() => window.progressTexts");
        output.WriteLine($"{events.Length} progress events: {string.Join(" ", events.Select(e => $"{e.Step}/{e.TotalSteps}"))}");
        output.WriteLine($"rendered: {string.Join(" | ", rendered)}");
        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.Equal(Steps, e.TotalSteps));
        Assert.Equal(events.Select(e => e.Step).Order(), events.Select(e => e.Step)); // in order
        Assert.Equal(Steps, events[^1].Step); // the last step always arrives
        Assert.Contains(rendered, text => Regex.IsMatch(text, $@"^Step ([1-9]|[1-3]\d)/{Steps}$")); // a step before the end was shown
        Assert.Equal(await page.Locator("#progress").GetAttributeAsync("max"), await page.Locator("#progress").EvaluateAsync<string>("p => String(p.value)"));
        Assert.Equal(1, await page.Locator("#history img").CountAsync());
        await BrowserFixture.ScreenshotAsync(page, "playground-single", output);
    }

    [Fact]
    public async Task ClassCanBePickedWithTheKeyboard()
    {
        var page = await OpenAsync();
        var input = page.GetByRole(AriaRole.Combobox, new() { Name = "Class" });
        await input.PressSequentiallyAsync("pu");
        Assert.Equal("true", await input.GetAttributeAsync("aria-expanded"));
        await input.PressAsync("ArrowDown");
        Assert.Equal("class-option-1", await input.GetAttributeAsync("aria-activedescendant"));
        await input.PressAsync("Enter");

        Assert.Equal("puppy", await input.InputValueAsync());
        Assert.Equal("false", await input.GetAttributeAsync("aria-expanded"));
        Assert.False(await page.GetByRole(AriaRole.Listbox).IsVisibleAsync());
    }

    [Fact]
    public async Task GridModeDrawsOneImagePerClass()
    {
        var page = await OpenAsync();
        await page.GetByLabel("Grid: one image per class").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        await page.Locator("#status", new() { HasTextString = "Done: 4 images" }).WaitForAsync();
        var images = page.Locator("#grid img");
        Assert.Equal(4, await images.CountAsync());
        var alts = await images.EvaluateAllAsync<string[]>("imgs => imgs.map(i => i.alt)");
        var shown = alts.Select(alt => Regex.Match(alt, "^Generated image of class (.+), seed (\\d+)$")).ToArray();
        Assert.Equal(["cat", "dog", "bird", "fish"], shown.Select(m => m.Groups[1].Value)); // class order, whatever finished first
        Assert.Single(shown.Select(m => m.Groups[2].Value).Distinct()); // one seed: the classes start from the same noise
        Assert.True(await images.EvaluateAllAsync<bool>("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"));
        Assert.Equal(4, await page.Locator("#history img").CountAsync());
        await BrowserFixture.ScreenshotAsync(page, "playground-grid", output);
    }

    [Fact]
    public async Task SeedGridDrawsConsecutiveSeedsOfOneClass()
    {
        var page = await OpenAsync();
        await PickClassAsync(page, "fi", "fish");
        await page.GetByLabel("Grid: several seeds of this class").CheckAsync();
        await page.GetByLabel("Images in the grid").FillAsync("3");
        await page.GetByLabel("Random seed").UncheckAsync();
        await page.GetByLabel("Seed value").FillAsync("10");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        await page.Locator("#status", new() { HasTextString = "Done: 3 images" }).WaitForAsync();
        Assert.Equal(
            ["Generated image of class fish, seed 10", "Generated image of class fish, seed 11", "Generated image of class fish, seed 12"],
            await page.Locator("#grid img").EvaluateAllAsync<string[]>("imgs => imgs.map(i => i.alt)"));
    }

    [Fact]
    public async Task PageWithAnImageAndAnErrorHasNoAxeViolations()
    {
        var page = await OpenAsync();
        await PickClassAsync(page, "bi", "bird");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
        await page.Locator("#result-image[alt^='Generated image of class bird']").WaitForAsync();
        await page.Locator("#class-input").FillAsync("");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync(); // no class: an error, with history
        await page.GetByRole(AriaRole.Alert).Locator("li").WaitForAsync();

        var result = await page.RunAxe();
        foreach (var violation in result.Violations)
            output.WriteLine($"{violation.Id}: {violation.Help} at {string.Join(", ", violation.Nodes.Select(n => n.Html))}");
        Assert.Empty(result.Violations);
        Assert.NotEmpty(result.Passes);
    }

    [Fact]
    public async Task UnknownClassNameShowsTheServersMessageNamingTheField()
    {
        var page = await OpenAsync();
        await page.Locator("#class-input").FillAsync("zebra");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        var error = page.GetByRole(AriaRole.Alert);
        await error.Locator("li").WaitForAsync();
        var text = await error.InnerTextAsync();
        Assert.Contains("Invalid generate request", text);
        Assert.Contains("className: Unknown class name 'zebra'", text);
        Assert.Equal("true", await page.Locator("#class-input").GetAttributeAsync("aria-invalid"));
        Assert.Equal(0, await page.Locator("#result-image[src]").CountAsync());
        await BrowserFixture.ScreenshotAsync(page, "playground-error", output);
    }

    [Fact]
    public async Task AStepCachePickedInTheFormSavesModelPassesAndTheCaptionSaysSo()
    {
        var page = await OpenAsync();
        await PickClassAsync(page, "ca", "cat");
        await page.Locator("#steps").FillAsync("4");
        await page.GetByLabel("Step cache").SelectOptionAsync("fora:2");
        await page.Locator("#interval-on").SetCheckedAsync(false); // both guidance branches at every step
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        await page.Locator("#result-image[alt^='Generated image of class cat']").WaitForAsync();
        var caption = await page.Locator("#result-caption").InnerTextAsync();
        Assert.Matches(@", (2/4|4/8) model passes in full\)$", caption); // every other step, one or two guidance branches
    }

    [Theory]
    [InlineData("#steps", "s => { s.max = 5000; s.value = 5000; }", "steps: steps must be between 1 and 1000.")]
    [InlineData("#cache", "s => s.add(new Option('lru', 'lru:2', true, true))", "cache: Unknown cache 'lru:2'")]
    public async Task AValueBeyondTheLimitsFromAManipulatedFormIsRefusedNamingTheField(string control, string manipulate, string message)
    {
        var page = await OpenAsync();
        await PickClassAsync(page, "ca", "cat");
        await page.Locator(control).EvaluateAsync(manipulate);
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        var error = page.GetByRole(AriaRole.Alert);
        await error.Locator("li").WaitForAsync();
        Assert.Contains(message, await error.InnerTextAsync());
        Assert.Equal("true", await page.Locator(control).GetAttributeAsync("aria-invalid"));
        Assert.Null(await page.Locator("#class-input").GetAttributeAsync("aria-invalid"));
    }

    [Fact]
    public async Task AGuidanceIntervalFromTheFormIsSentAndABadOneIsRefusedNamingTheField()
    {
        var page = await OpenAsync();
        await PickClassAsync(page, "ca", "cat");
        await page.GetByLabel("Guide only at noise levels").CheckAsync();
        await page.GetByLabel("Low σ").FillAsync("5");
        await page.GetByLabel("High σ").FillAsync("1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

        var error = page.GetByRole(AriaRole.Alert);
        await error.Locator("li").WaitForAsync();
        Assert.Contains("guidanceInterval: guidanceInterval must be two noise levels [low, high] with 0 <= low < high", await error.InnerTextAsync());
        Assert.Equal("true", await page.Locator("#interval-low").GetAttributeAsync("aria-invalid"));

        await page.GetByLabel("High σ").FillAsync("10");
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
        await page.Locator("#result-image[alt^='Generated image of class cat']").WaitForAsync();
    }
}
