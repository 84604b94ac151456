using CsCheck;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

/// <summary>
/// Broadcast correctness (issue 19): a hub never loses an event silently. Eviction leaves a resume that is exact, the byte
/// budget stays true after gaps, a resume means the same on every instance, a stuck reader cannot hold shutdown, and one
/// request cannot pull the whole window at once.
/// </summary>
[NonParallelizable]
public class HubCorrectnessTests
{
    /// <summary>Every event already available, without waiting; stops at the first wait or the end.</summary>
    internal static List<ServerEvent> Available(IAsyncEnumerator<ServerEvent> e)
    {
        var result = new List<ServerEvent>();
        while (true)
        {
            var next = e.MoveNextAsync();
            if (!next.IsCompleted || !next.Result) break;
            result.Add(e.Current);
        }
        return result;
    }

    internal static List<ServerEvent> Available(IAsyncEnumerable<ServerEvent> subscription)
    {
        var e = subscription.GetAsyncEnumerator();
        var result = Available(e);
        e.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return result;
    }

    [Test]
    public async Task A_reader_more_than_bufferSize_behind_is_evicted_while_everything_it_missed_is_still_replayable()
    {
        var hub = new EventHub(replay: 100, bufferSize: 10);
        await using var stalled = hub.Subscribe().GetAsyncEnumerator();
        var m1 = hub.Publish(new ServerEvent(data: "m1"));
        (await stalled.MoveNextAsync()).Should().BeTrue();
        stalled.Current.Data.Should().Be("m1");

        for (var i = 2; i <= 11; i++) hub.Publish(new ServerEvent(data: $"m{i}"));
        hub.Evictions.Should().Be(0, "10 behind is within bufferSize");
        hub.Publish(new ServerEvent(data: "m12"));
        hub.Evictions.Should().Be(1, "11 behind is more than bufferSize: evicted at once");
        for (var i = 13; i <= 51; i++) hub.Publish(new ServerEvent(data: $"m{i}"));

        Available(stalled).Should().BeEmpty("an evicted reader's stream ends; it resumes from what it last got");
        hub.SubscriberCount.Should().Be(0);
        Available(hub.Subscribe(lastEventId: m1.Id)).Select(e => e.Data).Should().Equal(Enumerable.Range(2, 50).Select(i => $"m{i}"), "the resume after an eviction has no gap");
    }

    [Test]
    public void A_reader_that_resumes_whenever_it_is_evicted_never_misses_an_event_the_hub_could_still_give()
    {
        // Any replay and bufferSize, any pattern of bursts and partial reads, events of mixed ids; the reader resumes with
        // its last id as soon as its stream ends. Model: it never gets an event twice or out of order, and it misses none
        // unless, when it resumed, it was a whole ring (2 * max(replay, bufferSize) + 1 events) behind. A live reader
        // evicted at bufferSize behind is always within that when it comes back within max(replay, bufferSize) events.
        // (Fails on the hub before issue 19, which evicted only once the next frame had left the ring.)
        Gen.Select(Gen.Int[0, 40], Gen.Int[1, 40], Gen.Select(Gen.Int[0, 90], Gen.Int[1, 90], Gen.Bool).Array[1, 30])
            .Sample((replay, bufferSize, steps) =>
            {
                var hub = new EventHub(replay: replay, bufferSize: bufferSize);
                var ring = 2 * Math.Max(replay, bufferSize) + 1;
                var published = 0;
                var next = 0;
                var gapAllowed = false;
                string? last = null;
                var trace = $"replay {replay}, bufferSize {bufferSize}, steps {string.Join(" ", steps.Select(s => $"{s.Item1 % (Math.Max(replay, bufferSize) + 1)}/{s.Item2}/{s.Item3}"))}";
                var reader = hub.Subscribe().GetAsyncEnumerator();
                foreach (var (burst, read, ownIds) in steps)
                {
                    // Bursts between two reads stay within max(replay, bufferSize) events.
                    var publish = burst % (Math.Max(replay, bufferSize) + 1);
                    for (var i = 0; i < publish; i++, published++)
                        hub.Publish(new ServerEvent(data: $"{published}", id: ownIds && published % 3 == 0 ? $"own-{published}" : null));
                    for (var i = 0; i < read && next < published; i++)
                    {
                        // Read only what is there (never leave a read waiting): an event, or the end of an evicted stream.
                        var step = reader.MoveNextAsync();
                        if (!step.IsCompleted && gapAllowed)
                        {
                            // Too far behind, it was given the window, which held nothing it lacked: it is live now.
                            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
                            reader = hub.Subscribe().GetAsyncEnumerator();
                            next = published;
                            gapAllowed = false;
                            break;
                        }
                        step.IsCompleted.Should().BeTrue($"an event is available or the stream ended ({trace})");
                        if (step.Result && reader.Current.Name == "resync")
                        {
                            // Said first when the resume cannot be exact: only when the model allows a gap.
                            gapAllowed.Should().BeTrue($"a resync only when events it needs are gone ({trace})");
                            i--;
                            continue;
                        }
                        if (step.Result)
                        {
                            var n = int.Parse(reader.Current.Data!);
                            if (gapAllowed) n.Should().BeGreaterThanOrEqualTo(next, $"never twice, never backwards ({trace})");
                            else n.Should().Be(next, $"no gap, no duplicate ({trace})");
                            next = n + 1;
                            gapAllowed = false;
                            last = reader.Current.Id;
                            continue;
                        }
                        // Evicted: reconnect at once with the last id it got.
                        reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
                        gapAllowed = published - next >= ring;
                        reader = hub.Subscribe(lastEventId: last ?? "0").GetAsyncEnumerator();
                    }
                }
            }, iter: 3000);
    }

    [Test]
    public async Task With_the_default_sizes_an_evicted_reader_resumes_without_a_gap()
    {
        var hub = new EventHub();
        await using var stalled = hub.Subscribe().GetAsyncEnumerator();
        var m1 = hub.Publish(new ServerEvent(data: "m1"));
        (await stalled.MoveNextAsync()).Should().BeTrue();
        for (var i = 2; i <= 1100; i++) hub.Publish(new ServerEvent(data: $"m{i}"));

        hub.Evictions.Should().Be(1);
        var resumed = Available(hub.Subscribe(lastEventId: m1.Id));
        resumed.Select(e => e.Data).Should().Equal(Enumerable.Range(2, 1099).Select(i => $"m{i}"));
    }

    [Test]
    public async Task An_http_reader_that_stops_reading_is_evicted_and_its_resume_over_http_is_exact()
    {
        var hub = new EventHub(replay: 100, bufferSize: 10) { MaxBytes = 1L << 30, MaxReplayBytes = 1L << 30 };
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        using var http = new HttpClient(new SocketsHttpHandler
        {
            // A small receive buffer, so a reader that stops reading stops the server's flushes soon.
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 8192 };
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        }) { BaseAddress = client.BaseAddress };
        using var response = await http.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        await TestApps.UntilAsync(() => hub.SubscriberCount == 1);

        var runBase = hub.LastSequence;
        var big = new string('x', 256 * 1024);
        hub.Publish(new ServerEvent(data: "m1"));
        var first = new byte[64];
        var got = await body.ReadAsync(first);
        Encoding.ASCII.GetString(first, 0, got).Should().Contain("data: m1");
        // The reader stops reading while 30 large events are published: more than bufferSize behind, it is evicted.
        for (var i = 2; i <= 31; i++) hub.Publish(new ServerEvent(data: $"m{i} {big}"));
        await TestApps.UntilAsync(() => hub.Evictions == 1);
        hub.Evictions.Should().Be(1);

        // It reads what reached it before the stream ended, then resumes from the last event it got.
        var text = new StringBuilder(Encoding.ASCII.GetString(first, 0, got));
        var buffer = new byte[64 * 1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            int n;
            while ((n = await body.ReadAsync(buffer, deadline.Token)) > 0) text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        catch (IOException)
        {
        }
        var complete = text.ToString().Split("\n\n").SkipLast(1).Where(e => e.Contains("id: ")).ToList();
        var received = complete.Select(e => e.Split('\n').First(l => l.StartsWith("id: "))[4..]).ToList();
        received.Should().NotBeEmpty().And.Equal(HubIds.Ids(runBase, 1, received.Count));

        for (var i = 32; i <= 40; i++) hub.Publish(new ServerEvent(data: $"m{i}"));
        var resumed = await TestApps.TakeAsync(client.EventsAsync("/feed", lastEventId: received[^1]), 40 - received.Count, TimeSpan.FromSeconds(20));
        resumed.Select(e => e.Id).Should().Equal(HubIds.Ids(runBase, received.Count + 1, 40), "no gap, no duplicate");
    }

    /// <summary>Delivers whatever numbers the test gives it, as a backplane that skipped some (trimmed, or missed at an epoch change).</summary>
    internal sealed class ManualBackplane : IEventBackplane
    {
        public IEventBackplaneSink Sink { get; private set; } = null!;
        public long AttachAt { get; init; }
        public List<BackplaneEvent> History { get; } = [];

        public long Attach(IEventBackplaneSink sink)
        {
            Sink = sink;
            return AttachAt;
        }

        public void Deliver(long seq, ServerEvent evt)
        {
            History.Add(new BackplaneEvent(seq, evt));
            Sink.Deliver(seq, evt);
        }

        public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default)
        {
            var seq = (History.Count == 0 ? AttachAt : History[^1].Sequence) + 1;
            Deliver(seq, evt);
            return Task.FromResult(seq);
        }

        public Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<BackplaneEvent>>(History.Where(e => e.Sequence >= from && e.Sequence <= to).ToList());

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Test]
    public async Task The_byte_budget_counts_only_what_the_ring_holds_after_gaps_in_backplane_numbers()
    {
        var backplane = new ManualBackplane();
        var hub = new EventHub(replay: 4, bufferSize: 16, backplane: backplane) { MaxBytes = 4000 };
        var data = new string('d', 100);
        for (var i = 0; i < 300; i++) backplane.Deliver(1 + i * 1000L, new ServerEvent(data: data));

        var held = backplane.History.Select(e => hub.FrameAt(e.Sequence)).OfType<HubFrame>().ToList();
        held.Should().NotBeEmpty();
        hub.RetainedBytes.Should().Be(held.Sum(f => f.Size), "the budget counts the frames held, whatever numbers were skipped");

        // Within the budget, a live subscriber two events behind keeps both.
        await using var live = hub.Subscribe().GetAsyncEnumerator();
        backplane.Deliver(299_002, new ServerEvent(data: "a"));
        backplane.Deliver(299_003, new ServerEvent(data: "b"));
        Available(live).Select(e => e.Data).Should().Equal("a", "b");
        hub.Evictions.Should().Be(0);
    }

    /// <summary>A backplane whose pump delivers on another thread as soon as it is attached, before Attach returns.</summary>
    private sealed class EagerBackplane : IEventBackplane
    {
        public Task Delivered { get; private set; } = Task.CompletedTask;

        public long Attach(IEventBackplaneSink sink)
        {
            var started = new ManualResetEventSlim();
            Delivered = Task.Run(() =>
            {
                started.Set();
                sink.Deliver(6, new ServerEvent(data: "m6"));
            });
            started.Wait();
            // The stored number was read before event 6 arrived; the pump runs meanwhile (the window the race needs).
            Thread.Sleep(100);
            return 5;
        }

        public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<BackplaneEvent>>([]);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Test]
    public async Task An_event_the_backplane_delivers_while_the_hub_attaches_is_neither_lost_nor_overwritten()
    {
        var backplane = new EagerBackplane();
        var hub = new EventHub(backplane: backplane);
        await backplane.Delivered.WaitAsync(TimeSpan.FromSeconds(10));

        hub.LastSequence.Should().Be(6, "the head the hub attached at never overwrites an event delivered meanwhile");
        Available(hub.Subscribe(lastEventId: "5")).Select(e => e.Data).Should().Equal("m6");
    }

    [Test]
    public async Task A_publishers_own_id_resumes_the_same_on_an_instance_that_never_held_it()
    {
        // Instance A publishes; instance B attaches after everything, so it only has the backplane's history.
        var shared = new ManualBackplane();
        var a = new EventHub(backplane: shared);
        for (var i = 1; i <= 10; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
        await a.PublishAsync(new ServerEvent(data: "m11", id: "3"));
        await a.PublishAsync(new ServerEvent(data: "m12", id: "x-12"));
        for (var i = 13; i <= 15; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
        var later = new ManualBackplane { AttachAt = 15 };
        later.History.AddRange(shared.History);
        var b = new EventHub(backplane: later);

        foreach (var hub in new[] { a, b })
        {
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "3"), 4)).Select(e => e.Data).Should().Equal("m12", "m13", "m14", "m15");
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "x-12"), 3)).Select(e => e.Data).Should().Equal("m13", "m14", "m15");
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "13"), 2)).Select(e => e.Data).Should().Equal("m14", "m15");
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "11"), 15)).Should().HaveCount(15, "number 11 is an own-id event: \"11\" names nothing, so the whole window");
        }
    }

    /// <summary>A hub feed behind a server with a 30 s shutdown timeout and a 60 s write timeout, subscribed to by a raw
    /// HTTP/1.1 request over <paramref name="tcp"/>; returns once the stream is in the hub.</summary>
    private static async Task<(EventHub Hub, RunningApp Running)> StartFeedReadByAsync(TcpClient tcp)
    {
        var hub = new EventHub(replay: 10) { MaxBytes = 1L << 30 };
        var app = TestApps.Quiet(s =>
        {
            s.ShutdownTimeout = TimeSpan.FromSeconds(30);
            s.StreamWriteTimeout = TimeSpan.FromSeconds(60);
        });
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        var running = await app.StartAsync("127.0.0.1", 0);
        var url = new Uri(running.Url);
        await tcp.ConnectAsync(url.Host, url.Port);
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /feed HTTP/1.1\r\nHost: {url.Authority}\r\n\r\n"));
        await TestApps.UntilAsync(() => hub.SubscriberCount == 1);
        return (hub, running);
    }

    [Test]
    public async Task A_hub_stream_whose_client_stopped_reading_does_not_hold_shutdown()
    {
        using var tcp = new TcpClient { ReceiveBufferSize = 4096 };
        var (hub, running) = await StartFeedReadByAsync(tcp);
        // Far more than the socket buffers hold: the stream's flush is left pending on a client that never reads.
        var big = new string('x', 512 * 1024);
        for (var i = 0; i < 64; i++) hub.Publish(new ServerEvent(data: big));
        await Task.Yield();

        var stopwatch = Stopwatch.StartNew();
        var stop = running.StopAsync();
        var finished = await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(15)));
        stopwatch.Stop();
        finished.Should().Be(stop, "a pending flush is cancelled when the subscription ends, not waited out for the 30 s shutdown timeout");
        TestContext.Out.WriteLine($"stopped in {stopwatch.ElapsedMilliseconds} ms");
        hub.SubscriberCount.Should().Be(0);
    }

    [Test]
    public async Task A_stream_caught_mid_write_by_shutdown_does_not_hold_it_when_its_client_stops_reading()
    {
        // The client reads at full speed, so the stream's drain is busy writing (not waiting on a flush) when the server
        // stops; then the client stops reading. The flush the drain starts after the stop must not wait out the write timeout.
        var rounds = 0;
        var slowest = TimeSpan.Zero;
        var big = new ServerEvent(data: new string('x', 16 * 1024 * 1024));
        var deadline = Stopwatch.StartNew();
        while (rounds < 150 && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            rounds++;
            using var tcp = new TcpClient();
            var (hub, running) = await StartFeedReadByAsync(tcp);
            var stream = tcp.GetStream();
            // A frame far larger than the socket buffers: the drain is still writing it when the stop ends the subscription.
            hub.Publish(big);
            var reading = true;
            var received = 0L;
            var reader = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                while (Volatile.Read(ref reading))
                {
                    var read = await stream.ReadAsync(buffer);
                    if (read == 0) return;
                    Interlocked.Add(ref received, read);
                }
            });
            await TestApps.UntilAsync(() => Interlocked.Read(ref received) > rounds % 16 * 128 * 1024); // a different point each round

            var stopwatch = Stopwatch.StartNew();
            var stop = running.StopAsync();
            Volatile.Write(ref reading, false);
            var finished = await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(15)));
            stopwatch.Stop();
            finished.Should().Be(stop, $"a stream caught writing by shutdown (round {rounds}) is aborted once its flush waits, not waited out for the 30 s shutdown timeout");
            await reader.WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
            if (stopwatch.Elapsed > slowest) slowest = stopwatch.Elapsed;
            hub.SubscriberCount.Should().Be(0);
        }
        TestContext.Out.WriteLine($"{rounds} rounds, slowest stop {slowest.TotalMilliseconds:0} ms");
    }

    [Test]
    public async Task A_direct_reader_that_arms_its_wait_as_an_event_is_published_is_always_woken()
    {
        // A reader that has just caught up arms its signal and looks once more; a publish at that moment must either be seen
        // by that look or wake the wait. Pairs of publishes a varying few microseconds apart sweep the second one across the
        // reader's arming; after each pair the reader must get both, with no third publish to rescue a missed wake-up. Before
        // the fix this crashed the process within a second: a reader that found the event on its second look left the signal
        // armed, and its next arming reset the signal under a publisher's wake-up still completing it.
        var hub = new EventHub(replay: 4, bufferSize: 1 << 20);
        using var cts = new CancellationTokenSource();
        var received = 0L;
        var subscription = (HubSubscription)hub.Subscribe(ct: cts.Token);
        var reader = Task.Run(async () =>
        {
            await foreach (var _ in subscription) Interlocked.Increment(ref received);
        });
        await TestApps.UntilAsync(() => hub.SubscriberCount == 1);
        var evt = new ServerEvent(data: "x");
        var published = 0L;
        var rounds = 0;
        var clock = Stopwatch.StartNew();
        while (rounds < 200_000 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            rounds++;
            hub.Publish(evt);
            Thread.SpinWait(rounds % 64 * 8);
            hub.Publish(evt);
            published += 2;
            var waited = Stopwatch.StartNew();
            while (Interlocked.Read(ref received) < published)
            {
                waited.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), $"the reader is woken for every event (round {rounds}: {Interlocked.Read(ref received)} of {published}; armed: {subscription.ReaderWaiting}; reader: {reader.Status})");
                Thread.SpinWait(20);
            }
        }
        await cts.CancelAsync();
        await reader.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        TestContext.Out.WriteLine($"{rounds} pairs");
    }

    [Test]
    public async Task A_publish_repeated_with_its_idempotency_key_is_sent_once_and_returns_the_first_id()
    {
        var hub = new EventHub();
        var runBase = hub.LastSequence;
        await using var reader = hub.Subscribe().GetAsyncEnumerator();
        var first = await hub.PublishAsync(new ServerEvent(data: "reading 1"), idempotencyKey: "sensor-7/1");
        var again = await hub.PublishAsync(new ServerEvent(data: "reading 1"), idempotencyKey: "sensor-7/1");
        var other = await hub.PublishAsync(new ServerEvent(data: "reading 2"), idempotencyKey: "sensor-7/2");

        again.Id.Should().Be(first.Id);
        other.Id.Should().Be(HubIds.Id(runBase, 2), "the repeat took no number");
        Available(reader).Select(e => e.Data).Should().Equal("reading 1", "reading 2");
        await FluentActions.Awaiting(() => hub.PublishAsync(new ServerEvent(data: "x"), idempotencyKey: "")).Should().ThrowAsync<ArgumentException>();
        await FluentActions.Awaiting(() => hub.PublishAsync(new ServerEvent(data: "x"), idempotencyKey: new string('k', 257))).Should().ThrowAsync<ArgumentException>().WithMessage("*256*");
    }

    [Test]
    public async Task A_re_created_EventSource_resumes_with_a_lastEventId_query_parameter()
    {
        // EventSource gives up for good on a non-200; a page re-creates it and can only say where it stopped in the URL.
        var hub = new EventHub(replay: 10);
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        var sent = Enumerable.Range(1, 5).Select(i => hub.Publish(new ServerEvent(data: $"m{i}"))).ToList();

        (await TestApps.TakeAsync(client.EventsAsync($"/feed?lastEventId={sent[2].Id}"), 2)).Select(e => e.Data).Should().Equal("m4", "m5");
        (await TestApps.TakeAsync(client.EventsAsync($"/feed?lastEventId={sent[0].Id}", lastEventId: sent[3].Id), 1)).Select(e => e.Data).Should().Equal(["m5"], "the header wins");
    }

    [Test]
    public void Ids_that_cannot_be_this_hubs_get_a_resync_then_everything_retained_never_a_silent_live_start()
    {
        // API.md "Restarts and deploys lose nothing": an id an earlier run gave (or no run) is never taken for one of this
        // hub's numbers, and the client is never started live silently.
        var hub = new EventHub(replay: 50);
        var runBase = hub.LastSequence;
        for (var i = 1; i <= 20; i++) hub.Publish(new ServerEvent(data: $"m{i}"));

        // An earlier run's numbers (1, 20, the base itself), beyond the last one, malformed, unknown.
        foreach (var id in new[] { "-1", "-20", "1", "20", HubIds.Id(runBase, 0), HubIds.Id(runBase, 21), "99999999999999999", "99999999999999999999999", "+5", "unknown" })
        {
            var got = Available(hub.Subscribe(lastEventId: id));
            got.Should().HaveCount(21, $"\"{id}\" cannot be one of this hub's numbers: told, then everything retained");
            got[0].Name.Should().Be("resync");
            got[0].Id.Should().BeNull();
            got.Skip(1).Select(e => e.Data).Should().Equal(Enumerable.Range(1, 20).Select(i => $"m{i}"));
        }
        Available(hub.Subscribe(lastEventId: "0")).Select(e => e.Data).Should().Equal(Enumerable.Range(1, 20).Select(i => $"m{i}"), "0 asks for everything retained: no notice");
        Available(hub.Subscribe(lastEventId: HubIds.Id(runBase, 20))).Should().BeEmpty("the last number: exact, live from here");
    }

    [Test]
    public void One_resume_replays_at_most_MaxReplayBytes_and_the_next_one_continues_exactly()
    {
        var hub = new EventHub(replay: 1000) { MaxReplayBytes = 64 * 1024 };
        var data = new string('r', 1000);
        var runBase = hub.LastSequence;
        for (var i = 1; i <= 300; i++) hub.Publish(new ServerEvent(data: data));

        var received = new List<ServerEvent>();
        var requests = 0;
        string? last = "0";
        while (received.Count < 300 && requests < 20)
        {
            var batch = Available(hub.Subscribe(lastEventId: last));
            requests++;
            batch.Sum(e => e.ToString().Length).Should().BeLessThanOrEqualTo(64 * 1024 + 1100, "one resume stops at the byte bound (and finishes the frame it is on)");
            received.AddRange(batch);
            last = batch.Count > 0 ? batch[^1].Id : last;
        }
        received.Select(e => e.Id).Should().Equal(HubIds.Ids(runBase, 1, 300), "each resume continues where the last one stopped");
        requests.Should().BeGreaterThan(1);
    }
}
