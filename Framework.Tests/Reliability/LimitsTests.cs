using System.Net;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Connection-level limits from <see cref="Settings"/>: slowloris, idle keep-alive, connection caps.</summary>
public class LimitsTests
{
    private static async Task<bool> ClosedByServerAsync(Socket socket, TimeSpan within)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(within);
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [Test]
    public async Task A_client_that_sends_headers_too_slowly_is_disconnected()
    {
        var app = TestApps.Quiet(s => s.RequestHeadersTimeout = TimeSpan.FromSeconds(1));
        app.Route("/", (req, res) => res.Text = "alive");
        await using var client = app.CreateClient();
        var uri = client.BaseAddress!;
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await slow.ConnectAsync(uri.Host, uri.Port);
        await slow.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "));

        (await ClosedByServerAsync(slow, TimeSpan.FromSeconds(15))).Should().BeTrue();
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task An_idle_keep_alive_connection_is_closed()
    {
        var app = TestApps.Quiet(s => s.KeepAliveTimeout = TimeSpan.FromSeconds(1));
        app.Route("/", (req, res) => res.Text = "alive");
        await using var client = app.CreateClient();
        var uri = client.BaseAddress!;
        using var idle = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await idle.ConnectAsync(uri.Host, uri.Port);
        await idle.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));

        (await ClosedByServerAsync(idle, TimeSpan.FromSeconds(15))).Should().BeTrue();
    }

    [Test]
    public async Task Connections_past_the_maximum_are_refused()
    {
        var app = TestApps.Quiet(s => s.MaxConcurrentConnections = 2);
        app.Route("/", (req, res) => res.Text = "alive");
        await using var client = app.CreateClient();
        var uri = client.BaseAddress!;
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(uri.Host, uri.Port);
                await s.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
                var buffer = new byte[1024];
                (await s.ReceiveAsync(buffer)).Should().BePositive();
                held.Add(s);
            }
            using var third = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await third.ConnectAsync(uri.Host, uri.Port);
            try
            {
                await third.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            }
            catch (SocketException)
            {
            }
            (await ClosedByServerAsync(third, TimeSpan.FromSeconds(15))).Should().BeTrue("the third connection is over the limit");
        }
        finally
        {
            foreach (var s in held) s.Dispose();
        }
    }
}
