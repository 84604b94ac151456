using System.Net;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Docs;

/// <summary>The nginx configuration in docs/guide/deployment.md, run for real in front of an app: events pass through unbuffered,
/// a WebSocket upgrades, a 2 MB upload arrives.</summary>
[NonParallelizable]
public class NginxDeploymentTests
{
    [Test]
    public async Task The_documented_nginx_config_passes_events_through_as_they_are_sent()
    {
        NginxProxy.IgnoreWithoutNginx();

        var release = new TaskCompletionSource();
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = $"proxied for {req.Headers["X-Forwarded-For"]}");
        app.Route("/temperature-feed", (req, res) => res.EventStream(Feed()));
        app.WebSocketRoute("/chat", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"echo: {message}");
        });
        app.Post("/upload", async (req, res) =>
        {
            var file = (await req.FormAsync()).File("doc")!;
            res.Text = $"{file.FileName} {file.Length}";
        });
        async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(json: new { temperature = 10.5 });
            await release.Task.WaitAsync(ct);
            yield return new ServerEvent(json: new { temperature = 11.5 });
        }
        await using var client = app.CreateClient();

        await using var nginx = NginxProxy.Start("docs/guide/deployment.md", client.BaseAddress!.Authority);
        var port = nginx.Port;
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await TestApps.WaitForServerAsync(http);

            (await http.GetStringAsync("/")).Should().Be("proxied for 127.0.0.1");
            using var response = await http.GetAsync("/temperature-feed", HttpCompletionOption.ResponseHeadersRead);
            response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            // The second event is held back by the app: the first must arrive on its own, not buffered by nginx.
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("""data: {"temperature":10.5}""");
            release.SetResult();
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("");
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("""data: {"temperature":11.5}""");

            // A WebSocket through the same configuration (a fixed `Connection ""` made this a 426).
            using (var socket = new System.Net.WebSockets.ClientWebSocket())
            {
                await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat"), CancellationToken.None);
                await socket.SendAsync("via nginx"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
                var buffer = new byte[256];
                var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("echo: via nginx");
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }

            // A 2 MB upload (nginx's default limit is 1 MB).
            using var upload = new MultipartFormDataContent("----nginx");
            upload.Add(new ByteArrayContent(new byte[2 * 1024 * 1024]), "doc", "big.bin");
            var uploaded = await http.PostAsync("/upload", upload);
            uploaded.StatusCode.Should().Be(HttpStatusCode.OK);
            (await uploaded.Content.ReadAsStringAsync()).Should().Be("big.bin 2097152");
        }
    }

    [Test]
    public async Task Behind_the_documented_nginx_a_client_cannot_choose_the_host_or_scheme_the_app_sees()
    {
        NginxProxy.IgnoreWithoutNginx();
        var app = TestApps.Quiet(s =>
        {
            s.TrustedProxies = ["127.0.0.1"];
            s.AllowedHosts = ["example.com"];
            s.Hsts = true;
        });
        app.Route("/info", (req, res) => res.Text = req.Url.ToString());
        await using var client = app.CreateClient();

        await using var nginx = NginxProxy.Start("docs/guide/deployment.md", client.BaseAddress!.Authority);
        var port = nginx.Port;
        {
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            for (var i = 0; i < 100; i++)
            {
                try
                {
                    await http.GetAsync("/info");
                    break;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100);
                }
            }
            foreach (var path in new[] { "/info", "/temperature-feed" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Host = "example.com";
                request.Headers.Add("X-Forwarded-Host", "evil.example");
                request.Headers.Add("X-Forwarded-Proto", "http");
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                // HSTS on a plain-HTTP request: a redirect to the same host over HTTPS — never to the host the client named.
                response.StatusCode.Should().Be(HttpStatusCode.MovedPermanently, path);
                response.Headers.Location!.ToString().Should().StartWith($"https://example.com{path}", path);
            }
            using var evil = new HttpRequestMessage(HttpMethod.Get, "/info");
            evil.Headers.Host = "evil.example";
            (await http.SendAsync(evil)).StatusCode.Should().Be(HttpStatusCode.BadRequest, "a Host outside AllowedHosts is refused");
        }
    }

    /// <summary>A page served by nginx on a port other than 80 opens a WebSocket with that port in its <c>Origin</c>: the
    /// documented configurations must carry it to the app (<c>$host</c> dropped the port: a bare 403), upgrade it (scaling.md
    /// and the example had no <c>Upgrade</c>: 426), and still carry event streams and plain requests, whether or not the
    /// app trusts the proxy's forwarded headers.</summary>
    [Test]
    public async Task Each_documented_nginx_config_carries_a_pages_websocket_an_event_stream_and_a_plain_request(
        [ValueSource(typeof(NginxProxy), nameof(NginxProxy.Documented))] string config, [Values] bool trustProxy)
    {
        NginxProxy.IgnoreWithoutNginx();
        var app = TestApps.Quiet(s => s.TrustedProxies = trustProxy ? ["127.0.0.1"] : []);
        app.Route("/", (req, res) => res.Text = req.Url.ToString());
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
        await using var nginx = NginxProxy.Start(config, client.BaseAddress!.Authority);
        using var http = new HttpClient { BaseAddress = nginx.Url };
        await TestApps.WaitForServerAsync(http);

        (await http.GetStringAsync("/")).Should().Be($"http://127.0.0.1:{nginx.Port}/", "the app sees the host and port the client asked for");

        using (var response = await http.GetAsync("/temperature-feed", HttpCompletionOption.ResponseHeadersRead))
        {
            response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("""data: {"temperature":10.5}""");
        }

        using var socket = new ClientWebSocket();
        // What a browser sends from a page of http://127.0.0.1:<nginx's port>/.
        socket.Options.SetRequestHeader("Origin", $"http://127.0.0.1:{nginx.Port}");
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{nginx.Port}/chat"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (WebSocketException e)
        {
            Assert.Fail($"The handshake through {config} failed with HTTP {(int)socket.HttpStatusCode}: {e.Message}");
        }
        await socket.SendAsync("via nginx"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[256];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("echo: via nginx");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }
}
