using Bocata.Testing;
using Bocata.Tests.OpenApi;
using FluentAssertions;
using Microsoft.Playwright;
using NUnit.Framework;

namespace Bocata.Tests.Browser;

/// <summary>Headless Chromium opens /docs of the app behind the hand-written OpenAPI 3.2.0 fixture: the page renders every operation
/// and the event stream's event types, "try it" creates an item (201), and the stream shows the item's event live.</summary>
[NonParallelizable]
public sealed class DocsPageBrowserTests
{
    private const float Timeout = 20_000;

    [Test]
    public async Task The_docs_page_renders_the_document_runs_a_request_and_shows_a_live_event()
    {
        if (!File.Exists(TemperatureFeedBrowserTests.Chromium)) Assert.Ignore($"Chromium is not installed at {TemperatureFeedBrowserTests.Chromium} (apt-get install -y chromium; .ci/run installs it).");

        await using var client = ItemsDocsApp.Create().CreateClient();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await TemperatureFeedBrowserTests.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        // A CSP violation (an inline script or style, a request elsewhere) or a script error is reported on the console.
        var problems = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") problems.Add(message.Text); };
        page.PageError += (_, error) => problems.Add(error);

        await page.GotoAsync(client.Server.Url + "/docs");
        await page.WaitForSelectorAsync("body[data-rendered]", new() { Timeout = Timeout });

        var operations = await page.EvalOnSelectorAllAsync<string[]>(".operation", "els => els.map(e => e.dataset.method + ' ' + e.dataset.path)");
        operations.Should().BeEquivalentTo("get /items", "post /items", "get /items/{pk}", "delete /items/{pk}", "get /items/events");
        (await page.EvalOnSelectorAllAsync<string[]>(".tag > h2", "els => els.map(e => e.textContent)")).Should().Equal("items", "events");
        (await page.EvalOnSelectorAllAsync<string[]>("#nav a", "els => els.map(e => e.textContent)"))
            .Should().Contain(["POST /items", "GET /items/events", "Item"]);
        var events = await page.EvalOnSelectorAllAsync<string[]>(".event-type .event-name", "els => els.map(e => e.textContent)");
        events.Should().Equal("created", "deleted");
        (await page.EvalOnSelectorAllAsync<string[]>(".component-schema h3", "els => els.map(e => e.textContent)"))
            .Should().Equal("NewItem", "Item", "ItemCreated", "ItemDeleted", "Error");

        // Open the stream first, so the item created below arrives on it.
        const string streamOperation = "details.operation[data-path='/items/events']";
        var stream = page.Locator(streamOperation);
        await page.Locator(streamOperation + " > summary").ClickAsync();
        await stream.Locator("button.send").ClickAsync();
        await stream.Locator(".stream-state", new() { HasTextString = "live" }).WaitForAsync(new() { Timeout = Timeout });

        const string createOperation = "details.operation[data-method='post'][data-path='/items']";
        var create = page.Locator(createOperation);
        await page.Locator(createOperation + " > summary").ClickAsync();
        await create.Locator("textarea.request-body").FillAsync("{\"name\": \"Bocadillo de tortilla\"}");
        await create.Locator("button.send").ClickAsync();
        await create.Locator(".response-status", new() { HasTextString = "201" }).WaitForAsync(new() { Timeout = Timeout });
        (await create.Locator(".response-body").TextContentAsync()).Should().Contain("\"name\": \"Bocadillo de tortilla\"");
        (await create.Locator(".response-headers").TextContentAsync()).Should().Contain("content-type: application/json");

        // The stream was live before the POST; the event shows without a reload (the hub keeps it for a late subscriber too).
        var live = stream.Locator(".live-event[data-event='created']");
        await live.First.WaitForAsync(new() { Timeout = Timeout });
        (await live.First.TextContentAsync()).Should().Contain("Bocadillo de tortilla");

        var screenshot = Path.Combine(TestContext.CurrentContext.WorkDirectory, "docs-page.png");
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        TestContext.AddTestAttachment(screenshot, "The /docs page after creating an item, with the event stream open");

        await stream.Locator("button.stop").ClickAsync();
        await stream.Locator(".stream-state", new() { HasTextString = "stopped" }).WaitForAsync(new() { Timeout = Timeout });
        problems.Should().BeEmpty();
    }
}
