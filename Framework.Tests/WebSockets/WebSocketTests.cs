using System.Net;
using System.Net.WebSockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.WebSockets;

public class WebSocketTests
{
    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket)
    {
        var buffer = new byte[4096];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return result.MessageType == WebSocketMessageType.Close ? $"<close {(int?)result.CloseStatus}>" : Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    private static Task SendTextAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    [Test]
    public async Task Echoes_messages_until_the_client_closes()
    {
        var app = TestApps.Quiet();
        var ended = new TaskCompletionSource();
        app.WebSocketRoute("/chat", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"echo: {message}");
            ended.SetResult();
        });
        await using var client = app.CreateClient();
        using var socket = await client.WebSocketConnectAsync("/chat");

        await SendTextAsync(socket, "hello");
        (await ReceiveTextAsync(socket)).Should().Be("echo: hello");
        await SendTextAsync(socket, "¿qué tal?");
        (await ReceiveTextAsync(socket)).Should().Be("echo: ¿qué tal?");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

        await ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        socket.State.Should().Be(WebSocketState.Closed);
    }

    [Test]
    public async Task Json_messages_route_parameters_and_query()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/rooms/{room}", async ws =>
        {
            var message = await ws.ReceiveJsonAsync<Dictionary<string, int>>();
            await ws.SendJsonAsync(new { room = ws.PathParams["room"], user = ws.QueryParams["user"], doubled = message["n"] * 2 });
            await ws.CloseAsync();
        });
        await using var client = app.CreateClient();
        using var socket = await client.WebSocketConnectAsync("/rooms/lobby?user=ana");

        await SendTextAsync(socket, """{"n":21}""");

        (await ReceiveTextAsync(socket)).Should().Be("""{"room":"lobby","user":"ana","doubled":42}""");
        (await ReceiveTextAsync(socket)).Should().Be("<close 1000>");
    }

    [Test]
    public async Task A_handler_exception_closes_with_1011()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/boom", async ws =>
        {
            await ws.ReceiveTextAsync();
            throw new InvalidOperationException("kaput");
        });
        await using var client = app.CreateClient();
        using var socket = await client.WebSocketConnectAsync("/boom");

        await SendTextAsync(socket, "go");

        (await ReceiveTextAsync(socket)).Should().Be("<close 1011>");
    }

    [Test]
    public async Task Rejected_and_unknown_endpoints_refuse_the_handshake_with_403()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/private", async ws =>
        {
            if (ws.Headers["X-Token"] != "ok") await ws.RejectAsync();
            else await ws.AcceptAsync();
        }, autoAccept: false);
        await using var client = app.CreateClient();

        foreach (var path in new[] { "/private", "/nowhere" })
        {
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            var uri = new Uri(new Uri(client.BaseAddress!.ToString().Replace("http", "ws", StringComparison.Ordinal)), path);
            await FluentActions.Awaiting(() => socket.ConnectAsync(uri, CancellationToken.None)).Should().ThrowAsync<WebSocketException>();
            socket.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden, path);
        }
    }

    [Test]
    public async Task A_rejection_with_a_reason_says_it_in_the_403()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/rooms/{room}", async (WebSocket ws, string room) => await ws.RejectAsync($"You are not a member of room '{room}'."), autoAccept: false);
        await using var client = app.CreateClient();

        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        var uri = new Uri(new Uri(client.BaseAddress!.ToString().Replace("http", "ws", StringComparison.Ordinal)), "/rooms/7");
        await FluentActions.Awaiting(() => socket.ConnectAsync(uri, CancellationToken.None)).Should().ThrowAsync<WebSocketException>();

        socket.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden);
        var raw = await Bocata.Tests.Testing.RawHttp.SendAsync(client.BaseAddress!,
            $"GET /rooms/7 HTTP/1.1\r\nHost: {client.BaseAddress!.Authority}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        raw.Should().StartWith("HTTP/1.1 403");
        using var body = System.Text.Json.JsonDocument.Parse(raw[(raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
        body.RootElement.GetProperty("detail").GetString().Should().Be("You are not a member of room '7'.");
    }

    [Test]
    public async Task A_plain_http_request_to_a_websocket_route_is_426()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/ws", ws => Task.CompletedTask);
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/ws");

        response.StatusCode.Should().Be(HttpStatusCode.UpgradeRequired);
    }

    [Test]
    public void Bad_value_type_is_explained() =>
        FluentActions.Invoking(() => new App().WebSocketRoute("/x", ws => Task.CompletedTask, valueType: "xml"))
            .Should().Throw<ArgumentException>().WithMessage("*\"text\", \"bytes\", \"json\" or \"event\"*");
}
