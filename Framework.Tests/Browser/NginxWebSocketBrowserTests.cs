using System.Runtime.CompilerServices;
using Bocata.Testing;
using Bocata.Tests.Docs;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.Browser;

/// <summary>A page in headless Chromium, served through deployment.md's nginx on a port other than 80, opens a WebSocket, an
/// EventSource and a fetch to its app: all three get through, and the app logs no refused handshake.</summary>
[NonParallelizable]
public class NginxWebSocketBrowserTests
{
    private const string Page = """
        <!doctype html>
        <title>through nginx</title>
        <p id="ws"></p><p id="closed"></p><p id="sse"></p><p id="plain"></p>
        <script>
          const set = (id, text) => document.getElementById(id).textContent = text;
          const ws = new WebSocket(`ws://${location.host}/chat`);
          ws.onopen = () => ws.send('from the page');
          ws.onmessage = e => set('ws', e.data);
          ws.onclose = e => set('closed', String(e.code));
          const feed = new EventSource('/temperature-feed');
          feed.onmessage = e => { set('sse', e.data); feed.close(); };
          fetch('/hello').then(r => r.text()).then(t => set('plain', t));
        </script>
        """;

    [Test]
    public async Task A_page_behind_the_documented_nginx_opens_its_websocket_and_event_stream([Values] bool trustProxy)
    {
        NginxProxy.IgnoreWithoutNginx();
        if (!File.Exists(TemperatureFeedBrowserTests.Chromium)) Assert.Ignore($"Chromium is not installed at {TemperatureFeedBrowserTests.Chromium} (apt-get install -y chromium; .ci/run installs it).");

        var logs = new ListLoggerProvider();
        var app = TestApps.Quiet(s =>
        {
            s.TrustedProxies = trustProxy ? ["127.0.0.1"] : [];
            s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        });
        app.Route("/", (req, res) => res.Html = Page);
        app.Route("/hello", (req, res) => res.Text = "plain");
        app.Route("/temperature-feed", (req, res) => res.EventStream(Feed()));
        app.WebSocketRoute("/chat", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"echo: {message}");
        });
        static async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(json: new { temperature = 10.5 });
            await Task.Delay(Timeout.Infinite, ct);
        }
        await using var client = app.CreateClient();
        await using var nginx = NginxProxy.Start("docs/guide/deployment.md", client.BaseAddress!.Authority);
        using (var http = new HttpClient { BaseAddress = nginx.Url }) await TestApps.WaitForServerAsync(http);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await TemperatureFeedBrowserTests.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(nginx.Url + "");
        // Either the echo arrives or the socket closes (a refused handshake is a close with 1006 in a browser).
        await page.WaitForFunctionAsync("() => document.getElementById('ws').textContent || document.getElementById('closed').textContent",
            null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        var refusals = logs.Messages.Where(m => m.Contains("refused", StringComparison.Ordinal)).ToList();
        (await page.TextContentAsync("#ws")).Should().Be("echo: from the page", $"the page's WebSocket gets through (closed: '{await page.TextContentAsync("#closed")}'; log: {string.Join(" | ", refusals)})");
        await page.WaitForFunctionAsync("() => document.getElementById('sse').textContent && document.getElementById('plain').textContent",
            null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        (await page.TextContentAsync("#sse")).Should().Be("""{"temperature":10.5}""");
        (await page.TextContentAsync("#plain")).Should().Be("plain");
        refusals.Should().BeEmpty();
    }
}
