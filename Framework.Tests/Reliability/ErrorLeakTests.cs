using System.Net;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.Reliability;

/// <summary>DoS issue, items 8 and 9: errors that escaped the error layers or leaked as 500s, and absolute-form targets.</summary>
[NonParallelizable]
public class ErrorLeakTests
{
    private static (App App, ListLoggerProvider Logs) LoggedApp()
    {
        var logs = new ListLoggerProvider();
        var app = new App();
        app.Configure(s =>
        {
            s.AccessLog = false;
            s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        });
        return (app, logs);
    }

    [Test]
    public async Task Stopping_with_an_open_websocket_never_touches_its_started_response()
    {
        var (app, logs) = LoggedApp();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.WebSocketRoute("/ws", async ws =>
        {
            entered.TrySetResult();
            await ws.ReceiveTextAsync();
        });
        var running = await app.StartAsync("127.0.0.1", 0);
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new Uri(running.Url.Replace("http", "ws") + "/ws"), CancellationToken.None);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await running.StopAsync();

        lock (logs.Messages) logs.Messages.Should().NotContain(m => m.Contains("read-only") || m.StartsWith("Error") || m.StartsWith("Critical"));
    }

    [Test]
    public async Task An_unsupported_charset_is_415_not_500()
    {
        var (app, logs) = LoggedApp();
        app.Post("/text", async (req, res) => res.Text = await req.TextAsync());
        await using var client = app.CreateClient();

        var utf7 = new ByteArrayContent(Encoding.ASCII.GetBytes("+ADw-script+AD4-"));
        utf7.Headers.TryAddWithoutValidation("Content-Type", "text/plain; charset=utf-7");
        var response = await client.PostAsync("/text", utf7);
        response.StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);
        (await response.TextAsync()).Should().Contain("utf-7").And.NotContain("<script>");

        var unknown = new ByteArrayContent("abc"u8.ToArray());
        unknown.Headers.TryAddWithoutValidation("Content-Type", "text/plain; charset=klingon");
        (await client.PostAsync("/text", unknown)).StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);

        var latin1 = new ByteArrayContent([0x63, 0x61, 0x66, 0xE9]);
        latin1.Headers.TryAddWithoutValidation("Content-Type", "text/plain; charset=iso-8859-1");
        (await (await client.PostAsync("/text", latin1)).TextAsync()).Should().Be("café");
        lock (logs.Messages) logs.Messages.Should().NotContain(m => m.StartsWith("Error"));
    }

    [Test]
    public async Task A_redirect_to_a_non_ascii_or_spaced_url_is_percent_encoded_as_starlette_does()
    {
        var (app, _) = LoggedApp();
        app.Route("/go", (req, res) => throw new Redirect("/café/a b?q=ü&x=1#frag"));
        app.Route("/evil", (req, res) => throw new Redirect("/x\r\nSet-Cookie: a=b"));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/go");
        response.StatusCode.Should().Be(HttpStatusCode.Found);
        response.Headers.Location!.OriginalString.Should().Be("/caf%C3%A9/a%20b?q=%C3%BC&x=1#frag");

        var raw = await RawHttp.GetAsync(client.BaseAddress!, "/evil");
        raw.Should().StartWith("HTTP/1.1 302 ").And.Contain("Location: /x%0D%0ASet-Cookie:%20a=b\r\n").And.NotContain("\r\nSet-Cookie");
    }

    [Test]
    public async Task An_aborted_download_is_not_an_error_with_a_stack_trace()
    {
        var (app, logs) = LoggedApp();
        var path = Path.Combine(Path.GetTempPath(), $"bocata-big-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(path, new byte[64 * 1024 * 1024]);
        try
        {
            app.Route("/big", (req, res) => res.File(path));
            await using var client = app.CreateClient();
            for (var i = 0; i < 3; i++)
            {
                using var socket = new TcpClient();
                await socket.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
                var stream = socket.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
                var buffer = new byte[64 * 1024];
                await stream.ReadAtLeastAsync(buffer, 1024);
                socket.Client.LingerState = new LingerOption(true, 0); // reset, as a closed browser tab does
                socket.Close();
            }
            (await client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead)).StatusCode.Should().Be(HttpStatusCode.OK);
            await Task.Delay(500);
        }
        finally
        {
            File.Delete(path);
        }

        // Kestrel's own Debug lines may carry the abort's exception; nothing at Information or above does, and nothing is an error.
        lock (logs.Messages) logs.Messages.Should().NotContain(m => m.StartsWith("Error") || m.StartsWith("Warning") || (!m.StartsWith("Debug") && m.Contains("   at ")));
    }

    [TestCase("GET http://example.com/url?x=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "http://example.com/url?x=1 /url")]
    [TestCase("GET http://example.com HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "http://example.com/ /")]
    public async Task An_absolute_form_target_builds_the_right_url(string request, string expected)
    {
        var (app, _) = LoggedApp();
        app.Route("/url", (req, res) => res.Text = $"{req.Url} {req.Path}");
        app.Route("/", (req, res) => res.Text = $"{req.Url} {req.Path}");
        await using var client = app.CreateClient();

        var raw = await RawHttp.SendAsync(client.BaseAddress!, request);

        raw.Should().StartWith("HTTP/1.1 200 ").And.EndWith("\r\n\r\n" + expected);
    }
}
