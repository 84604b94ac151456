using System.Net;
using System.Runtime.CompilerServices;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

/// <summary>Behaviours a Bocadillo app ported line by line relies on (Bocadillo 0.18's tests and docs).</summary>
public class BocadilloFidelityTests
{
    [Test]
    public async Task A_pattern_without_a_leading_slash_is_rooted()
    {
        var app = TestApps.Quiet();
        app.Route("foo", (req, res) => res.Text = "foo");
        await using var client = app.CreateClient();
        (await client.GetStringAsync("/foo")).Should().Be("foo");
    }

    [Test]
    public async Task A_root_wildcard_answers_the_root_too()
    {
        var app = TestApps.Quiet();
        app.Route("/{}", (req, res) => res.Text = $"wildcard {req.Path}");
        await using var client = app.CreateClient();
        (await client.GetStringAsync("/")).Should().Be("wildcard /");
        (await client.GetStringAsync("/anything")).Should().Be("wildcard /anything");
    }

    [TestCase("4", "4")]
    [TestCase("4.2", "4")]
    [TestCase("-4.7", "-4")]
    public async Task Integers_are_truncated_as_Bocadillo_converts_them(string raw, string expected)
    {
        var app = TestApps.Quiet();
        app.Route("/n/{x}", (Request req, Response res, int x) => res.Text = x.ToString());
        await using var client = app.CreateClient();
        (await client.GetStringAsync($"/n/{raw}")).Should().Be(expected);
    }

    [TestCase("true", "True")]
    [TestCase("TRUE", "True")]
    [TestCase("1", "True")]
    [TestCase("False", "False")]
    [TestCase("0", "False")]
    [TestCase("", "False")]
    public async Task Booleans_accept_true_false_one_zero_and_empty(string raw, string expected)
    {
        var app = TestApps.Quiet();
        app.Route("/b", (Request req, Response res, bool flag = true) => res.Text = flag.ToString());
        await using var client = app.CreateClient();
        (await client.GetStringAsync($"/b?flag={raw}")).Should().Be(expected);
    }

    [TestCase("yes")]
    [TestCase("no")]
    [TestCase("on")]
    [TestCase("off")]
    public async Task Other_boolean_spellings_are_a_400(string raw)
    {
        var app = TestApps.Quiet();
        app.Route("/b/{flag}", (Request req, Response res, bool flag) => res.Text = flag.ToString());
        await using var client = app.CreateClient();
        using var response = await client.GetAsync($"/b/{raw}");
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).Should().Contain("\"flag\":\"Must be a boolean.\"");
    }

    [Test]
    public async Task An_event_stream_says_connection_keep_alive_on_http_1_1()
    {
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(One()));
        static async IAsyncEnumerable<ServerEvent> One([EnumeratorCancellation] CancellationToken ct = default)
        {
            await Task.Yield();
            yield return new ServerEvent(data: "x");
        }
        await using var client = app.CreateClient();
        using var response = await client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead);
        response.Headers.Connection.Should().Contain("keep-alive");
        new ServerEvent().ToString().Should().Be("\n\n", "an empty event is a blank line, as in Bocadillo");
    }

    [Test]
    public async Task A_file_is_an_attachment_unless_attach_is_false()
    {
        var dir = Directory.CreateTempSubdirectory("bocata-attach").FullName;
        var path = Path.Combine(dir, "report.txt");
        await File.WriteAllTextAsync(path, "numbers");
        var app = TestApps.Quiet();
        app.Route("/download", (req, res) => res.File(path));
        app.Route("/inline", (req, res) => res.File(path, attach: false));
        await using var client = app.CreateClient();

        using var download = await client.GetAsync("/download");
        download.Content.Headers.ContentDisposition!.DispositionType.Should().Be("attachment");
        download.Content.Headers.ContentDisposition.FileName.Should().Be("report.txt");
        using var inline = await client.GetAsync("/inline");
        inline.Content.Headers.ContentDisposition.Should().BeNull();
        (await inline.Content.ReadAsStringAsync()).Should().Be("numbers");
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public async Task A_websocket_handshake_to_an_http_route_is_403_and_the_handler_never_runs()
    {
        var ran = false;
        var app = TestApps.Quiet();
        app.Route("/page", (req, res) =>
        {
            ran = true;
            res.Text = "page";
        });
        app.Route("/both", (req, res) => res.Text = "http side");
        app.WebSocketRoute("/both", async ws => await ws.SendTextAsync(ws.Url.ToString()));
        await using var client = app.CreateClient();

        var refused = await FluentActions.Awaiting(() => client.WebSocketConnectAsync("/page")).Should().ThrowAsync<System.Net.WebSockets.WebSocketException>();
        ran.Should().BeFalse("the HTTP handler must not run for a handshake");
        (await client.GetStringAsync("/both")).Should().Be("http side", "HTTP and WebSocket handlers can share a pattern");

        using var ws = await client.WebSocketConnectAsync("/both");
        var buffer = new byte[256];
        var received = await ws.ReceiveAsync(buffer, CancellationToken.None);
        System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be($"ws://{client.BaseAddress!.Authority}/both", "ws.Url has the ws scheme");
    }

    [Test]
    public async Task A_plain_get_to_a_websocket_route_is_426_upgrade_required()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/chat", async ws => await ws.CloseAsync());
        await using var client = app.CreateClient();
        using var response = await client.GetAsync("/chat");
        response.StatusCode.Should().Be((HttpStatusCode)426);
        response.Headers.Upgrade.ToString().Should().Be("websocket");
    }

    [Test]
    public async Task Routes_match_in_registration_order_a_wildcard_first_shadows_a_literal()
    {
        var app = TestApps.Quiet();
        app.Route("/items/{name}", (Request req, Response res, string name) => res.Text = $"pattern {name}");
        app.Route("/items/special", (req, res) => res.Text = "literal");
        app.Route("/other/special", (req, res) => res.Text = "literal first");
        app.Route("/other/{name}", (Request req, Response res, string name) => res.Text = $"pattern {name}");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/special")).Should().Be("pattern special", "the wildcard was registered first");
        (await client.GetStringAsync("/other/special")).Should().Be("literal first");
        (await client.GetStringAsync("/other/x")).Should().Be("pattern x");
    }

    [Test]
    public async Task Content_without_a_content_type_is_text_plain_and_chunked_is_chunked_even_when_empty()
    {
        var app = TestApps.Quiet();
        app.Route("/content", (req, res) => res.Content = "Something magical"u8.ToArray());
        app.Route("/css", (req, res) =>
        {
            res.Content = "h1 { color: gold; }"u8.ToArray();
            res.Headers["Content-Type"] = "text/css";
        });
        app.Route("/chunked", (req, res) => res.Chunked = true);
        await using var client = app.CreateClient();

        (await client.GetAsync("/content")).Content.Headers.ContentType!.ToString().Should().Be("text/plain");
        (await client.GetAsync("/css")).Content.Headers.ContentType!.ToString().Should().Be("text/css");
        var raw = await Testing.RawHttp.GetAsync(client.BaseAddress!, "/chunked");
        raw.Should().Contain("Transfer-Encoding: chunked").And.NotContain("Content-Length");
    }
}
