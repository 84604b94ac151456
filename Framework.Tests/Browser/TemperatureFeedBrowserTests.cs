using Bocata.Tests.Testing;
using FluentAssertions;
using Microsoft.Playwright;
using NUnit.Framework;

namespace Bocata.Tests.Browser;

/// <summary>A real browser on the README's main example: headless Chromium's EventSource reads /temperature-feed and the page updates.</summary>
[NonParallelizable]
public class TemperatureFeedBrowserTests
{
    internal const string Chromium = "/usr/bin/chromium";

    /// <summary>Debian's Chromium, headless. This machine has no outside network: background services would only fail and slow the start.</summary>
    internal static Task<IBrowser> LaunchAsync(IPlaywright playwright) =>
        playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });

    [Test]
    public async Task The_temperature_page_counts_events_received_by_EventSource()
    {
        if (!File.Exists(Chromium)) Assert.Ignore($"Chromium is not installed at {Chromium} (apt-get install -y chromium; .ci/run installs it).");

        await using var example = await ExampleProcess.StartAsync("TemperatureFeed");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await browser.NewPageAsync();

        await page.GotoAsync(example.Url + "/");
        await page.WaitForFunctionAsync("() => Number(document.getElementById('count').textContent) >= 5", null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        var first = int.Parse(await page.TextContentAsync("#count") ?? "0");
        await page.WaitForFunctionAsync($"() => Number(document.getElementById('count').textContent) > {first + 10}", null, new PageWaitForFunctionOptions { Timeout = 20_000 });

        var temperature = double.Parse(await page.TextContentAsync("#temperature") ?? "NaN", System.Globalization.CultureInfo.InvariantCulture);
        temperature.Should().BeInRange(8, 12);
        (await page.TextContentAsync("#status")).Should().Be("live");
    }
}
