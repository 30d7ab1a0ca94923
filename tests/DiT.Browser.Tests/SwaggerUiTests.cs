using Microsoft.Playwright;
using Xunit.Abstractions;

namespace DiT.Browser.Tests;

/// <summary>Swagger UI in a real browser: "Try it out" on the image endpoint and the admin API key.</summary>
public sealed class SwaggerUiTests(BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task TryItOutOnGenerateShowsTheImage()
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync("/swagger");

        var operation = page.Locator("#operations-Generate-Generate");
        await operation.Locator(".opblock-summary").ClickAsync();
        await operation.GetByRole(AriaRole.Button, new() { Name = "Try it out" }).ClickAsync();
        var body = operation.Locator("textarea.body-param__text");
        Assert.Contains("\"className\"", await body.InputValueAsync()); // the example names a class of the served model
        await body.FillAsync("""{"className": "dog", "steps": 4, "seed": 7}""");
        await operation.GetByRole(AriaRole.Button, new() { Name = "Execute" }).ClickAsync();

        var image = operation.Locator(".live-responses-table img");
        await image.WaitForAsync();
        await page.WaitForFunctionAsync("img => img.complete && img.naturalWidth > 0", await image.ElementHandleAsync());
        Assert.Equal(8, await image.EvaluateAsync<int>("img => img.naturalWidth"));
        Assert.StartsWith("blob:", await image.GetAttributeAsync("src"));
        Assert.Contains("x-seed: 7", await operation.Locator(".live-responses-table tbody .response-col_description").InnerTextAsync());
        await image.EvaluateAsync("img => { img.style.width = '128px'; img.style.imageRendering = 'pixelated'; }"); // 8x8: enlarged for the screenshot
        await BrowserFixture.ScreenshotAsync(page, "swagger-generate", output, operation.Locator(".responses-wrapper .live-responses-table"));
    }

    [Fact]
    public async Task AuthorizeButtonSendsTheAdminKey()
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync("/swagger");

        await page.GetByRole(AriaRole.Button, new() { Name = "Authorize" }).First.ClickAsync();
        var dialog = page.Locator(".modal-ux");
        await dialog.Locator("input").FillAsync(BrowserFixture.AdminKey);
        await dialog.Locator("button.modal-btn.authorize").ClickAsync(); // labelled "Apply credentials"
        await dialog.Locator("button.btn-done").ClickAsync();

        var operation = page.Locator("#operations-Admin-GetEngineStats");
        await operation.Locator(".opblock-summary").ClickAsync();
        await operation.GetByRole(AriaRole.Button, new() { Name = "Try it out" }).ClickAsync();
        await operation.GetByRole(AriaRole.Button, new() { Name = "Execute" }).ClickAsync();

        var status = operation.Locator(".live-responses-table tbody .response-col_status");
        await status.WaitForAsync();
        Assert.Equal("200", (await status.InnerTextAsync()).Trim());
        Assert.Contains("queueCapacity", await operation.Locator(".live-responses-table tbody .response-col_description").InnerTextAsync());
    }
}
