using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Faults under load: disconnect storms, slow consumers, failing handlers, stop with many open streams.</summary>
[NonParallelizable]
public class FaultTests
{
    private sealed class Counter
    {
        private int _live;
        private int _finished;
        private int _entered;
        public int Live => Volatile.Read(ref _live);
        public int Finished => Volatile.Read(ref _finished);
        public int Entered => Volatile.Read(ref _entered);

        public void Enter()
        {
            Interlocked.Increment(ref _entered);
            Interlocked.Increment(ref _live);
        }

        public void Exit()
        {
            Interlocked.Decrement(ref _live);
            Interlocked.Increment(ref _finished);
        }
    }

    private static async IAsyncEnumerable<ServerEvent> Tracked(Counter counter, [EnumeratorCancellation] CancellationToken ct = default)
    {
        counter.Enter();
        try
        {
            for (var i = 0; ; i++)
            {
                yield return new ServerEvent(data: $"{i}");
                await Task.Delay(20, ct);
            }
        }
        finally
        {
            counter.Exit();
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > timeout) return;
            await Task.Delay(20);
        }
    }

    [Test]
    public async Task A_thousand_connect_and_reset_cycles_leave_no_live_generator()
    {
        var counter = new Counter();
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(Tracked(counter)));
        await using var client = app.CreateClient();
        var uri = client.BaseAddress!;
        var request = Encoding.ASCII.GetBytes($"GET /feed HTTP/1.1\r\nHost: {uri.Authority}\r\n\r\n");

        for (var batch = 0; batch < 20; batch++)
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(uri.Host, uri.Port);
                await socket.SendAsync(request);
                var buffer = new byte[512];
                await socket.ReceiveAsync(buffer);
                // Linger 0: close with a TCP reset instead of a polite FIN.
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }));
        }

        await WaitUntilAsync(() => counter.Live == 0 && client.Server.OpenStreams == 0, TimeSpan.FromSeconds(30));
        // A reset that lands after the headers but before the first MoveNext cancels the stream before the generator starts.
        TestContext.Out.WriteLine($"entered {counter.Entered}, finished {counter.Finished}, live {counter.Live}, open streams {client.Server.OpenStreams}");
        counter.Entered.Should().BeGreaterThan(900);
        counter.Finished.Should().Be(counter.Entered, "every generator that started ran its finally");
        counter.Live.Should().Be(0);
        client.Server.OpenStreams.Should().Be(0);
        (await client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead)).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public void A_subscriber_that_never_reads_cannot_grow_memory_and_never_blocks_publishing()
    {
        var hub = new EventHub(replay: 100, bufferSize: 256);
        var never = hub.Subscribe();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var slowest = TimeSpan.Zero;

        // 3,200 distinct events of 64 KB each (32K UTF-16 chars): 200 MB published.
        for (var i = 0; i < 3200; i++)
        {
            var payload = new string((char)('a' + i % 26), 32 * 1024);
            var stopwatch = Stopwatch.StartNew();
            hub.Publish(new ServerEvent(data: payload));
            if (stopwatch.Elapsed > slowest) slowest = stopwatch.Elapsed;
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        var grownMb = (after - before) / 1024.0 / 1024.0;
        TestContext.Out.WriteLine($"200 MB published to a stalled subscriber: heap grew {grownMb:0.0} MB, slowest publish {slowest.TotalMilliseconds:0.000} ms");
        GC.KeepAlive(never);
        hub.Evictions.Should().Be(1);
        // Retained: at most the subscriber's 256 queued events plus the 100 of the replay ring, about 22 MB, never the 200 MB.
        grownMb.Should().BeLessThan(30);
    }

    [Test]
    public async Task Handler_exceptions_under_500_concurrent_requests_all_become_500s()
    {
        var app = TestApps.Quiet();
        app.Route("/boom/{n}", async (Request req, Response res, int n) =>
        {
            await Task.Yield();
            if (n % 2 == 0) throw new InvalidOperationException($"boom {n}");
            throw new NullReferenceException();
        });
        app.Route("/", (req, res) => res.Text = "alive");
        await using var client = app.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 500).Select(n => client.GetAsync($"/boom/{n}")));

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.InternalServerError);
        (await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()))).Should().OnlyContain(body => body == "500 Internal Server Error");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task Graceful_stop_with_a_thousand_open_streams_runs_every_finally()
    {
        var counter = new Counter();
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(30));
        app.Route("/feed", (req, res) => res.EventStream(Tracked(counter)));
        var running = await app.StartAsync("127.0.0.1", 0);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 2000 };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(running.Url), Timeout = Timeout.InfiniteTimeSpan };
        var responses = new List<HttpResponseMessage>();
        for (var batch = 0; batch < 10; batch++)
            responses.AddRange(await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => http.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead))));
        await WaitUntilAsync(() => counter.Live == 1000, TimeSpan.FromSeconds(30));
        counter.Live.Should().Be(1000);

        var stopwatch = Stopwatch.StartNew();
        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        stopwatch.Stop();
        TestContext.Out.WriteLine($"stop with 1000 open streams: {stopwatch.Elapsed.TotalMilliseconds:0} ms");

        counter.Finished.Should().Be(1000);
        counter.Live.Should().Be(0);
        foreach (var response in responses) response.Dispose();
    }
}

/// <summary>The hub's memory is bounded by bytes: a huge event is held once, the ring keeps at most its byte budget.</summary>
[NonParallelizable]
public class HubMemoryTests
{
    [Test]
    public async Task A_huge_event_to_idle_subscribers_is_held_once_not_once_per_subscriber()
    {
        var hub = new EventHub(replay: 10);
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        var sockets = new List<TcpClient>();
        try
        {
            // Ten subscribers that read their headers, then never read again.
            for (var i = 0; i < 10; i++)
            {
                var tcp = new TcpClient();
                tcp.ReceiveBufferSize = 4096;
                await tcp.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
                await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /feed HTTP/1.1\r\nHost: {client.BaseAddress.Authority}\r\n\r\n"));
                sockets.Add(tcp);
            }
            await TestApps.UntilAsync(() => hub.SubscriberCount == 10);
            var before = GC.GetTotalMemory(forceFullCollection: true);

            // 20 MB of text (40 MB as a .NET string, 20 MB encoded): the old path put a full copy in each connection's pipe.
            hub.Publish(new ServerEvent(data: new string('x', 20_000_000)));
            await Task.Delay(500);
            var grownMb = (GC.GetTotalMemory(forceFullCollection: true) - before) / 1024.0 / 1024.0;

            TestContext.Out.WriteLine($"one 20 MB event, 10 idle subscribers: heap grew {grownMb:0} MB");
            grownMb.Should().BeLessThan(100, "the frame is shared (≈60 MB with its string); each connection holds at most 64 KB of it unflushed");
        }
        finally
        {
            foreach (var tcp in sockets) tcp.Dispose();
        }
    }

    [Test]
    public void The_ring_keeps_at_most_its_byte_budget_oldest_first()
    {
        var hub = new EventHub(replay: 100) { MaxBytes = 1_000_000 };
        var sent = Enumerable.Range(1, 10).Select(i => hub.Publish(new ServerEvent(data: $"m{i}:" + new string('x', 150_000)))).ToList();

        var held = new List<string>();
        var e = hub.Subscribe(lastEventId: sent[0].Id).GetAsyncEnumerator();
        while (true)
        {
            var next = e.MoveNextAsync();
            if (!next.IsCompleted || !next.Result) break;
            held.Add(e.Current.Name ?? e.Current.Data![..e.Current.Data!.IndexOf(':')]);
        }
        held.Should().Equal(["resync", "m9", "m10"], "each frame costs ≈450 KB (its bytes and its string): two fit in 1 MB; m2-m8 are gone, and the resume says so");
    }
}
