using Microsoft.Playwright;

namespace DiT.Browser.Tests;

/// <summary>
/// Finding 7 in a real browser: the default Content-Security-Policy (self-only scripts, styles and requests) breaks
/// neither the playground nor Swagger UI. The browser reports every blocked script, style, image or request as a
/// securitypolicyviolation event; none may occur while each page loads and draws an image.
/// </summary>
public sealed class ContentSecurityPolicyTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    /// <summary>A page whose CSP violations are collected from before its first script runs.</summary>
    async Task<IPage> WatchedPageAsync()
    {
        var page = await browser.NewPageAsync();
        await page.Context.AddInitScriptAsync("""
            window.cspViolations = [];
            document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
            """);
        return page;
    }

    static async Task AssertNoViolationsAsync(IPage page) =>
        Assert.Empty(await page.EvaluateAsync<string[]>("() => window.cspViolations"));

    [Fact]
    public async Task ThePlaygroundDrawsAnImageWithoutViolations()
    {
        var page = await WatchedPageAsync();
        var response = await page.GotoAsync("/");
        Assert.Contains("script-src 'self'", await response!.HeaderValueAsync("content-security-policy"));
        await page.Locator("#class-hint", new() { HasTextString = "4 classes" }).WaitForAsync();
        await page.Locator("#class-input").PressSequentiallyAsync("cat");
        await page.GetByRole(AriaRole.Option, new() { Name = "cat" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 0)");

        await AssertNoViolationsAsync(page);
    }

    [Fact]
    public async Task SwaggerUiRendersAndRunsARequestWithoutViolations()
    {
        var page = await WatchedPageAsync();
        await page.GotoAsync("/swagger");
        var operation = page.Locator("#operations-Generate-Generate");
        await operation.Locator(".opblock-summary").ClickAsync();
        await operation.GetByRole(AriaRole.Button, new() { Name = "Try it out" }).ClickAsync();
        await operation.Locator("textarea.body-param__text").FillAsync("""{"className": "cat", "steps": 2, "seed": 1}""");
        await operation.GetByRole(AriaRole.Button, new() { Name = "Execute" }).ClickAsync();
        await operation.Locator(".live-responses-table img").WaitForAsync();

        await AssertNoViolationsAsync(page);
    }
}
