using System.Net;
using System.Net.WebSockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.WebSockets;

/// <summary>Developer-experience issue, item 3: WebSocket handlers reach the session and cookies, and a group broadcasts with the
/// hub's rules (encoded once, a bounded queue per member, slow members dropped, never blocking the sender).</summary>
[NonParallelizable]
public class WebSocketGroupTests
{
    private static Uri WsUri(TestClient client, string path) =>
        new(client.BaseAddress!.ToString().Replace("http", "ws", StringComparison.Ordinal).TrimEnd('/') + path);

    private static async Task<string> ReceiveTextAsync(System.Net.WebSockets.WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return result.MessageType == WebSocketMessageType.Close ? $"<close {(int?)result.CloseStatus}>" : Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    [Test]
    public async Task A_websocket_handler_reads_the_session_and_cookies_of_its_handshake()
    {
        var app = TestApps.Quiet(s => { s.Sessions = true; s.SecretKey = new string('s', 40); });
        app.Post("/login/{name}", (Request req, Response res, string name) => { req.Session["name"] = name; res.Text = "ok"; });
        app.WebSocketRoute("/whoami", async ws =>
        {
            await ws.SendTextAsync($"{ws.Session["name"]} {ws.Cookies.GetValueOrDefault("theme")}");
        });
        await using var client = app.CreateClient();
        var login = await client.PostAsync("/login/ana", null);
        var cookie = login.Headers.GetValues("Set-Cookie").First().Split(';')[0];

        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Cookie", $"{cookie}; theme=dark");
        await socket.ConnectAsync(WsUri(client, "/whoami"), CancellationToken.None);

        (await ReceiveTextAsync(socket)).Should().Be("ana dark");
    }

    [Test]
    public async Task A_group_broadcasts_to_every_member_and_forgets_members_that_leave()
    {
        var room = new WebSocketGroup();
        var app = TestApps.Quiet();
        app.WebSocketRoute("/chat/{name}", async ws =>
        {
            using var membership = room.Add(ws);
            await ws.SendTextAsync("joined");
            await foreach (var message in ws) room.Broadcast($"{ws.PathParams["name"]}: {message}", except: ws);
        });
        await using var client = app.CreateClient();
        var sockets = new List<ClientWebSocket>();
        foreach (var name in new[] { "ana", "bo", "cy" })
        {
            var socket = new ClientWebSocket();
            await socket.ConnectAsync(WsUri(client, $"/chat/{name}"), CancellationToken.None);
            (await ReceiveTextAsync(socket)).Should().Be("joined");
            sockets.Add(socket);
        }
        room.Count.Should().Be(3);

        await sockets[0].SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);

        (await ReceiveTextAsync(sockets[1])).Should().Be("ana: hello");
        (await ReceiveTextAsync(sockets[2])).Should().Be("ana: hello");
        foreach (var socket in sockets)
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            socket.Dispose();
        }
        await TestApps.UntilAsync(() => room.Count == 0, TimeSpan.FromSeconds(5));
        room.Count.Should().Be(0);
    }

    [Test]
    public async Task A_member_that_never_reads_is_dropped_and_never_slows_the_others_or_the_sender()
    {
        var room = new WebSocketGroup(bufferSize: 32);
        var app = TestApps.Quiet();
        app.WebSocketRoute("/room", async ws =>
        {
            using var membership = room.Add(ws);
            await foreach (var _ in ws) { }
        });
        await using var client = app.CreateClient();
        using var reader = new ClientWebSocket();
        await reader.ConnectAsync(WsUri(client, "/room"), CancellationToken.None);
        using var stuck = new System.Net.Sockets.TcpClient();   // completes the handshake, then never reads again
        await stuck.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
        await stuck.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        await TestApps.UntilAsync(() => room.Count == 2, TimeSpan.FromSeconds(5));

        var payload = new string('x', 64 * 1024);
        var received = 0;
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[128 * 1024];
            while (received < 200)
            {
                var result = await reader.ReceiveAsync(buffer, CancellationToken.None);
                if (result.EndOfMessage) received++;
            }
        });
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 200; i++)
        {
            room.Broadcast(payload);
            await Task.Delay(2);
        }
        stopwatch.Stop();

        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        received.Should().Be(200, "the reading member gets every message");
        room.Evictions.Should().Be(1, "the member that never reads falls more than 32 messages behind (12.8 MB sent, far past its socket buffers)");
        room.Count.Should().Be(1);
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "Broadcast only queues (a guard, not a benchmark)");
    }

    [Test]
    public void A_group_needs_a_positive_buffer()
    {
        FluentActions.Invoking(() => new WebSocketGroup(bufferSize: 0)).Should().Throw<ArgumentOutOfRangeException>();
    }
}
