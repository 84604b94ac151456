using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.Reliability;

/// <summary>DoS issue items 5, 6 and 8 and the shutdown item of the developer-experience issue: WebSockets over HTTP/2, bounded
/// messages and time, a real connection cap, 503 past it, and 1001 Going Away at shutdown.</summary>
[NonParallelizable]
public class WebSocketLimitsTests
{
    private const string Handshake = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    private static App EchoApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        app.WebSocketRoute("/ws", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"echo: {message}");
        });
        app.Route("/", (req, res) => res.Text = "alive");
        return app;
    }

    private static async Task<(WebSocketMessageType Type, string Text, WebSocketCloseStatus? Status)> ReceiveAsync(System.Net.WebSockets.WebSocket socket, int seconds = 10)
    {
        var buffer = new byte[64 * 1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(seconds));
        return (result.MessageType, Encoding.UTF8.GetString(buffer, 0, result.Count), result.CloseStatus);
    }

    private static async Task<ClientWebSocket> ConnectAsync(TestClient client, string path = "/ws")
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(client.BaseAddress!.ToString().Replace("http", "ws", StringComparison.Ordinal).TrimEnd('/') + path), CancellationToken.None);
        return socket;
    }

    [Test]
    public async Task A_browser_style_http2_websocket_over_extended_connect_works()
    {
        using var certificate = TestCertificates.SelfSigned();
        var app = TestApps.Quiet(s => s.Certificate = certificate);
        app.WebSocketRoute("/ws", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"{ws.Url.Scheme} echo: {message}");
        });
        await using var running = await app.StartAsync("127.0.0.1", 0);
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString();
        using var invoker = new HttpMessageInvoker(handler);
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        socket.Options.CollectHttpResponseDetails = true;

        await socket.ConnectAsync(new Uri(running.Url.Replace("https", "wss", StringComparison.Ordinal) + "/ws"), invoker, CancellationToken.None);
        await socket.SendAsync("over h2"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);

        socket.HttpStatusCode.Should().Be(HttpStatusCode.OK, "RFC 8441 answers an extended CONNECT with 200, not 101");
        (await ReceiveAsync(socket)).Text.Should().Be("wss echo: over h2");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Test]
    public async Task Stopping_closes_open_websockets_with_1001_quietly_and_quickly()
    {
        var logs = new ListLoggerProvider();
        var app = EchoApp(s => s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs)));
        var running = await app.StartAsync("127.0.0.1", 0);
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < 5; i++)
        {
            var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri(running.Url.Replace("http", "ws", StringComparison.Ordinal) + "/ws"), CancellationToken.None);
            await socket.SendAsync("hi"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            (await ReceiveAsync(socket)).Text.Should().Be("echo: hi");
            sockets.Add(socket);
        }
        var receives = sockets.Select(s => ReceiveAsync(s)).ToList();

        var stopwatch = Stopwatch.StartNew();
        await running.StopAsync();
        stopwatch.Stop();

        foreach (var receive in receives)
        {
            var (type, _, status) = await receive;
            type.Should().Be(WebSocketMessageType.Close);
            status.Should().Be(WebSocketCloseStatus.EndpointUnavailable, "1001 Going Away");
        }
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(4), "the clients never answer the close here; they are dropped after a second");
        lock (logs.Messages) logs.Messages.Should().NotContain(m => m.StartsWith("Error") || m.StartsWith("Critical") || m.StartsWith("Warning"));
        foreach (var socket in sockets) socket.Dispose();
    }

    [Test]
    public async Task A_client_that_vanishes_without_a_close_frame_is_logged_as_a_disconnect_not_an_error()
    {
        // Newcomer round 4, item 8: a phone losing signal (1006) was logged as `fail` with a stack trace.
        var logs = new ListLoggerProvider();
        var app = TestApps.Quiet(s => s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug)));
        app.WebSocketRoute("/ws", async ws =>
        {
            while (true) await ws.SendTextAsync($"echo: {await ws.ReceiveTextAsync()}");
        });
        await using var client = app.CreateClient();
        var socket = await ConnectAsync(client);
        await socket.SendAsync("hi"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        (await ReceiveAsync(socket)).Text.Should().Be("echo: hi");

        socket.Abort();
        socket.Dispose();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            lock (logs.Messages) if (logs.Messages.Any(m => m.Contains("1006", StringComparison.Ordinal))) break;
            await Task.Delay(20);
        }
        lock (logs.Messages)
        {
            logs.Messages.Should().Contain(m => m.StartsWith("Information") && m.Contains("closed the connection without a close frame (1006)", StringComparison.Ordinal));
            logs.Messages.Should().NotContain(m => m.StartsWith("Error") || m.StartsWith("Critical") || m.StartsWith("Warning"));
            logs.Messages.Should().NotContain(m => m.Contains("   at ", StringComparison.Ordinal), "a dropped client is not a failure with a stack trace");
        }
    }

    [Test]
    public async Task A_message_over_the_size_limit_closes_with_1009()
    {
        await using var client = EchoApp(s => s.WebSocketMaxMessageSize = 1000).CreateClient();
        using var socket = await ConnectAsync(client);

        await socket.SendAsync(new byte[999].Select(_ => (byte)'a').ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        (await ReceiveAsync(socket)).Text.Should().HaveLength(6 + 999);
        await socket.SendAsync(new byte[2000].Select(_ => (byte)'a').ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);

        (await ReceiveAsync(socket)).Status.Should().Be(WebSocketCloseStatus.MessageTooBig);
    }

    [Test]
    public async Task A_message_that_never_finishes_is_closed_with_1008_after_the_timeout()
    {
        await using var client = EchoApp(s => s.WebSocketMessageTimeout = TimeSpan.FromSeconds(1)).CreateClient();
        using var socket = await ConnectAsync(client);

        // The first fragment of a message, and then nothing: the review's 500 x "unfinished 1 MB frame" shape.
        await socket.SendAsync(new byte[64 * 1024], WebSocketMessageType.Binary, endOfMessage: false, CancellationToken.None);
        var stopwatch = Stopwatch.StartNew();

        (await ReceiveAsync(socket)).Status.Should().Be(WebSocketCloseStatus.PolicyViolation);
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(8));
    }

    [Test]
    public async Task A_peer_that_stops_answering_pings_is_dropped()
    {
        await using var client = EchoApp(s => { s.WebSocketKeepAliveInterval = TimeSpan.FromSeconds(1); s.WebSocketKeepAliveTimeout = TimeSpan.FromSeconds(1); }).CreateClient();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(Handshake));
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer);
        Encoding.ASCII.GetString(buffer, 0, read).Should().StartWith("HTTP/1.1 101 ");

        // Read what the server sends (its pings) but never answer them: it must give up on this peer.
        var stopwatch = Stopwatch.StartNew();
        var closed = false;
        while (!closed && stopwatch.Elapsed < TimeSpan.FromSeconds(15))
        {
            try
            {
                closed = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(15)) == 0;
            }
            catch (IOException)
            {
                closed = true;
            }
        }
        closed.Should().BeTrue();
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task Past_MaxWebSocketConnections_a_handshake_is_503_with_retry_after()
    {
        await using var client = EchoApp(s => s.MaxWebSocketConnections = 2).CreateClient();
        using var first = await ConnectAsync(client);
        using var second = await ConnectAsync(client);

        var raw = await Testing.RawHttp.SendAsync(client.BaseAddress!, Handshake.Replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n", StringComparison.Ordinal).Replace("Connection: Upgrade\r\n", "", StringComparison.Ordinal)
            .Replace("Upgrade: websocket\r\n", "Upgrade: websocket\r\nConnection: Upgrade\r\n", StringComparison.Ordinal));

        raw.Should().StartWith("HTTP/1.1 503 ").And.Contain("Retry-After: 5").And.NotContain("   at ");
        await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await TestApps.UntilAsync(() => client.Server.OpenWebSockets < 2, TimeSpan.FromSeconds(5));
        using var third = await ConnectAsync(client);
        third.State.Should().Be(WebSocketState.Open);
    }

    [Test]
    public async Task WebSockets_count_within_MaxConcurrentConnections()
    {
        await using var client = EchoApp(s => s.MaxConcurrentConnections = 3).CreateClient();
        using var first = await ConnectAsync(client);
        using var second = await ConnectAsync(client);
        using var http = new TcpClient();
        await http.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
        await http.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        var buffer = new byte[1024];
        Encoding.ASCII.GetString(buffer, 0, await http.GetStream().ReadAsync(buffer)).Should().StartWith("HTTP/1.1 200 ");

        // Two upgraded connections and one HTTP connection: a fourth is refused (Kestrel's own limit freed the upgraded slots).
        using var fourth = new TcpClient();
        await fourth.ConnectAsync(client.BaseAddress.Host, client.BaseAddress.Port);
        await fourth.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        int read;
        try
        {
            read = await fourth.GetStream().ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (IOException)
        {
            read = 0;
        }
        read.Should().Be(0, "the fourth connection is closed at once");
    }
}

/// <summary>The review's shape: hundreds of connections each sending an unfinished 1 MB frame. They are closed by the message
/// timeout and the memory they held is returned.</summary>
[NonParallelizable]
public class WebSocketMemoryTests
{
    [Test]
    public async Task Unfinished_one_megabyte_frames_are_closed_and_their_memory_returned()
    {
        const int connections = 200;
        var app = TestApps.Quiet(s => s.WebSocketMessageTimeout = TimeSpan.FromSeconds(2));
        app.WebSocketRoute("/ws", async ws => { await foreach (var _ in ws) { } });
        await using var client = app.CreateClient();
        var uri = new Uri(client.BaseAddress!.ToString().Replace("http", "ws", StringComparison.Ordinal).TrimEnd('/') + "/ws");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);

        var sockets = new List<ClientWebSocket>();
        var frame = new byte[1024 * 1024 - 1];
        for (var i = 0; i < connections; i++)
        {
            var socket = new ClientWebSocket();
            await socket.ConnectAsync(uri, CancellationToken.None);
            await socket.SendAsync(frame, WebSocketMessageType.Binary, endOfMessage: false, CancellationToken.None);
            sockets.Add(socket);
        }
        var closes = await Task.WhenAll(sockets.Select(async s =>
        {
            var buffer = new byte[256];
            try
            {
                return (await s.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30))).CloseStatus;
            }
            catch (WebSocketException)
            {
                return (WebSocketCloseStatus?)null;
            }
        }));
        await TestApps.UntilAsync(() => client.Server.OpenWebSockets == 0, TimeSpan.FromSeconds(10));
        foreach (var socket in sockets) socket.Dispose();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var after = GC.GetTotalMemory(forceFullCollection: true);

        closes.Count(c => c == WebSocketCloseStatus.PolicyViolation).Should().BeGreaterThan(connections * 9 / 10);
        client.Server.OpenWebSockets.Should().Be(0);
        TestContext.Out.WriteLine($"{connections} x 1 MB unfinished frames: managed heap {baseline / 1048576.0:F0} MB before, {after / 1048576.0:F0} MB after they were closed");
        (after - baseline).Should().BeLessThan(64L * 1024 * 1024, "pooled message buffers are bounded, not one per connection");
    }
}
