using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

/// <summary>The SSE engine's guarantees: one writer per stream, subscriptions owned by their request, refusing streams while stopping.</summary>
[NonParallelizable]
public class SseEngineTests
{
    /// <summary>Reads from a raw keep-alive connection: what arrived, until a marker shows up or the time is up.</summary>
    private sealed class RawConnection(TcpClient tcp) : IDisposable
    {
        private readonly NetworkStream _stream = tcp.GetStream();
        private readonly StringBuilder _received = new();

        public static async Task<RawConnection> OpenAsync(Uri url)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(url.Host, url.Port);
            return new RawConnection(tcp);
        }

        public Task SendAsync(string request) => _stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask();

        /// <summary>Everything up to and including <paramref name="marker"/>; the rest stays for the next read.</summary>
        public async Task<string> ReadUntilAsync(string marker, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            var buffer = new byte[8192];
            while (true)
            {
                var text = _received.ToString();
                var at = text.IndexOf(marker, StringComparison.Ordinal);
                if (at >= 0)
                {
                    _received.Remove(0, at + marker.Length);
                    return text[..(at + marker.Length)];
                }
                var n = await _stream.ReadAsync(buffer, cts.Token);
                if (n == 0) throw new EndOfStreamException($"Connection closed before '{marker}'; got: {text}");
                _received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }

        /// <summary>Whatever else arrives within <paramref name="wait"/>.</summary>
        public async Task<string> DrainAsync(TimeSpan wait)
        {
            using var cts = new CancellationTokenSource(wait);
            var buffer = new byte[8192];
            try
            {
                while (true)
                {
                    var n = await _stream.ReadAsync(buffer, cts.Token);
                    if (n == 0) break;
                    _received.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
            }
            catch (OperationCanceledException)
            {
            }
            var rest = _received.ToString();
            _received.Clear();
            return rest;
        }

        public void Dispose() => tcp.Dispose();
    }

    private static async IAsyncEnumerable<ServerEvent> OneThenIdle(TimeSpan idle, [EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return new ServerEvent(data: "only");
        await Task.Delay(idle, ct);
    }

    [Test]
    public async Task A_late_ping_can_never_land_in_the_next_response_on_a_keep_alive_connection()
    {
        // The review's reproduction: the heartbeat thread is delayed 30 ms just as it decides to ping, while the stream
        // ends. With a timer that wrote pings itself, that ping went into the next response on the connection (20/20).
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(OneThenIdle(TimeSpan.FromMilliseconds(40)), ping: TimeSpan.FromMilliseconds(5)));
        // The next request takes a while, as a real one would: a late write has a window to land in it.
        app.Route("/plain", async (req, res) =>
        {
            await Task.Delay(50);
            res.Text = "hello";
        });
        await using var client = app.CreateClient();
        EventStreamSender.BeforePingRequestForTests = () => Thread.Sleep(30);
        try
        {
            using var connection = await RawConnection.OpenAsync(client.BaseAddress!);
            for (var i = 0; i < 20; i++)
            {
                await connection.SendAsync($"GET /feed HTTP/1.1\r\nHost: {client.BaseAddress!.Authority}\r\n\r\n");
                var stream = await connection.ReadUntilAsync("\r\n0\r\n\r\n", TimeSpan.FromSeconds(10));
                stream.Should().Contain("data: only");
                await connection.SendAsync($"GET /plain HTTP/1.1\r\nHost: {client.BaseAddress!.Authority}\r\n\r\n");
                var head = await connection.ReadUntilAsync("\r\n\r\n", TimeSpan.FromSeconds(10));
                head.Should().StartWith("HTTP/1.1 200 OK").And.Contain("Content-Length: 5");
                (await connection.ReadUntilAsync("hello", TimeSpan.FromSeconds(10))).Should().Be("hello", "nothing may precede the body");
                (await connection.DrainAsync(TimeSpan.FromMilliseconds(60))).Should().BeEmpty($"round {i}: nothing may follow the response");
            }
        }
        finally
        {
            EventStreamSender.BeforePingRequestForTests = null;
        }
    }

    [Test]
    public async Task Pings_on_a_hub_stream_come_from_its_own_drain()
    {
        var hub = new EventHub();
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req), ping: TimeSpan.FromMilliseconds(50)));
        await using var client = app.CreateClient();
        using var connection = await RawConnection.OpenAsync(client.BaseAddress!);
        await connection.SendAsync($"GET /feed HTTP/1.1\r\nHost: {client.BaseAddress!.Authority}\r\n\r\n");
        await connection.ReadUntilAsync("\r\n\r\n", TimeSpan.FromSeconds(10));
        while (hub.SubscriberCount == 0) await Task.Delay(5);

        (await connection.ReadUntilAsync(": ping\n\n", TimeSpan.FromSeconds(5))).Should().NotContain("data:");
        var live = hub.Publish(new ServerEvent(data: "live"));
        (await connection.ReadUntilAsync("data: live\n\n", TimeSpan.FromSeconds(5))).Should().Contain($"id: {live.Id}\n");
        (await connection.ReadUntilAsync(": ping\n\n", TimeSpan.FromSeconds(5))).Should().NotContain("data:");
    }

    [Test]
    public async Task Subscriptions_end_with_their_request_even_when_never_read()
    {
        var hub = new EventHub();
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.Route("/throws", (req, res) =>
        {
            _ = hub.Subscribe(req);
            throw new InvalidOperationException("after subscribing");
        });
        app.Route("/replaced", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.Use(async (req, res, next) =>
        {
            await next();
            if (req.Path == "/replaced") res.Text = "replaced by middleware";
        });
        await using var client = app.CreateClient();

        for (var i = 0; i < 100; i++)
        {
            using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/feed"));
            head.StatusCode.Should().Be(HttpStatusCode.OK);
        }
        for (var i = 0; i < 20; i++) (await client.GetAsync("/throws")).StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        for (var i = 0; i < 20; i++) (await client.GetStringAsync("/replaced")).Should().Be("replaced by middleware");

        await TestApps.UntilAsync(() => hub.SubscriberCount == 0, TimeSpan.FromSeconds(5));
        hub.SubscriberCount.Should().Be(0, "140 requests that never streamed must leave no subscription behind");
    }

    [Test]
    public async Task A_reader_that_stops_taking_data_is_evicted_and_others_keep_receiving()
    {
        var hub = new EventHub(replay: 10, bufferSize: 64);
        var app = TestApps.Quiet(s => s.StreamWriteTimeout = TimeSpan.FromMilliseconds(500));
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        using var stalled = await RawConnection.OpenAsync(client.BaseAddress!);
        await stalled.SendAsync($"GET /feed HTTP/1.1\r\nHost: {client.BaseAddress!.Authority}\r\n\r\n");
        await TestApps.UntilAsync(() => hub.SubscriberCount == 1, TimeSpan.FromSeconds(5));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = 0;
        var healthy = Task.Run(async () =>
        {
            await foreach (var e in client.EventsAsync("/feed", cancellationToken: cts.Token))
                if (++received == 200) break;
        });
        await TestApps.UntilAsync(() => hub.SubscriberCount == 2, TimeSpan.FromSeconds(5));

        var big = new string('x', 32 * 1024);
        for (var i = 0; i < 200; i++)
        {
            hub.Publish(new ServerEvent(data: big));
            await Task.Delay(10);
        }
        await healthy.WaitAsync(cts.Token);

        received.Should().Be(200);
        await TestApps.UntilAsync(() => hub.SubscriberCount == 0, TimeSpan.FromSeconds(10));
        hub.Evictions.Should().BeGreaterThanOrEqualTo(1, "the reader that stopped reading was disconnected");
    }

    [Test]
    public async Task While_stopping_a_new_event_stream_gets_503_with_retry_after()
    {
        var hub = new EventHub();
        var app = TestApps.Quiet();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Route("/feed", async (req, res) =>
        {
            entered.TrySetResult();
            await release.Task;
            res.EventStream(hub.Subscribe(req));
        });
        var running = await app.StartAsync("127.0.0.1", 0);
        using var http = new HttpClient { BaseAddress = new Uri(running.Url) };
        var pending = http.GetAsync("/feed");
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stop = running.StopAsync();
        release.SetResult();
        using var response = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        response.Headers.RetryAfter.Should().NotBeNull();
        (await response.Content.ReadAsStringAsync()).Should().Contain("restarting");
        hub.SubscriberCount.Should().Be(0);
    }

    private sealed class SlowToDispose(TaskCompletionSource gate, Counter counter) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await gate.Task;
            counter.Increment();
        }
    }

    private sealed class Counter
    {
        private int _value;
        public int Value => Volatile.Read(ref _value);
        public void Increment() => Interlocked.Increment(ref _value);
    }

    [Test]
    public async Task A_scoped_service_with_a_slow_async_dispose_never_blocks_a_pool_thread()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var disposed = new Counter();
        var app = TestApps.Quiet();
        app.Provide(_ => new SlowToDispose(gate, disposed));
        app.Route("/scoped", (Request req, Response res, SlowToDispose service) => res.Text = "ok");
        app.Route("/plain", (req, res) => res.Text = "fine");
        await using var client = app.CreateClient();

        // 64 requests on 64 connections, each leaving a dispose pending on the gate. Waiting for them synchronously would hold
        // 64 pool threads, and a fresh request would wait for the thread pool to inject threads (tens of seconds).
        var clients = Enumerable.Range(0, 64).Select(_ => new HttpClient { BaseAddress = client.BaseAddress }).ToList();
        try
        {
            var answers = await Task.WhenAll(clients.Select(c => c.GetStringAsync("/scoped"))).WaitAsync(TimeSpan.FromSeconds(20));
            answers.Should().AllBe("ok");
            using var fresh = new HttpClient { BaseAddress = client.BaseAddress };
            (await fresh.GetStringAsync("/plain").WaitAsync(TimeSpan.FromSeconds(5))).Should().Be("fine");
            disposed.Value.Should().Be(0, "every dispose is still waiting on the gate");
            gate.SetResult();
            await TestApps.UntilAsync(() => disposed.Value == 64, TimeSpan.FromSeconds(10));
            disposed.Value.Should().Be(64, "each request's scope is disposed once the response is done");
        }
        finally
        {
            gate.TrySetResult();
            foreach (var c in clients) c.Dispose();
        }
    }

}
