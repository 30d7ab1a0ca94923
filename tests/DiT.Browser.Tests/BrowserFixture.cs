using DiT.Api.Tests;
using DiT.Testing;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace DiT.Browser.Tests;

/// <summary>
/// One service on a real Kestrel port (the API tests' tiny 8x8 model, 4 named classes) and one headless Debian Chromium,
/// shared by the tests of a class. Each test gets its own browser context (fresh page state). Never downloads a browser:
/// Playwright drives the system's /usr/bin/chromium (CI: apt-get install chromium).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string AdminKey = "browser-test-key";
    public static readonly string ChromiumPath = Environment.GetEnvironmentVariable("DIT_CHROMIUM") ?? "/usr/bin/chromium";

    static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
    ];

    readonly ApiFactory _app = new ApiFactory()
        .With("Engine:DefaultSteps", "5")
        .With("Admin:ApiKey", AdminKey);

    IPlaywright? _playwright;
    IBrowser? _browser;

    public string BaseUrl { get; private set; } = "";

    /// <summary>Screenshots land in TestResults/screenshots at the repository root (ignored by git).</summary>
    public static string ScreenshotDir { get; } = Path.Combine(Golden.RepoRoot(), "TestResults", "screenshots");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"No Chromium at {ChromiumPath}: install Debian's (apt-get install chromium) or set DIT_CHROMIUM.");
        BaseUrl = _app.StartOnLoopback().ToString().TrimEnd('/');
        await _app.ReadyClientAsync(); // the engine loads the model on its own thread

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ChromiumArgs,
        });
    }

    /// <summary>A page in a fresh context whose relative URLs resolve against the service.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl,
            ViewportSize = new ViewportSize { Width = 1100, Height = 900 },
        });
        context.SetDefaultTimeout((float)Hang.Guard.TotalMilliseconds); // a hang guard: waits are for what must appear
        return await context.NewPageAsync();
    }

    /// <summary>Saves the whole page, or just <paramref name="part"/>, as TestResults/screenshots/{name}.png.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name, ITestOutputHelper output, ILocator? part = null)
    {
        Directory.CreateDirectory(ScreenshotDir);
        var path = Path.Combine(ScreenshotDir, name + ".png");
        if (part is null) await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        else await part.ScreenshotAsync(new LocatorScreenshotOptions { Path = path });
        output.WriteLine($"screenshot: {path}");
        return path;
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.CloseAsync();
        _playwright?.Dispose();
        await _app.DisposeAsync();
    }
}
