using CsCheck;
using System.Collections.Concurrent;
using System.Diagnostics;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

public class EventHubTests
{
    [Test]
    public async Task Every_subscriber_gets_every_event_in_order_with_increasing_ids()
    {
        var hub = new EventHub();
        var runBase = hub.LastSequence;
        var subscribers = Enumerable.Range(0, 3).Select(_ => hub.Subscribe()).ToList();
        hub.SubscriberCount.Should().Be(3);

        for (var i = 0; i < 5; i++) hub.Publish(new ServerEvent(data: $"m{i}"));
        var received = await Task.WhenAll(subscribers.Select(s => TestApps.TakeAsync(s, 5)));

        foreach (var events in received)
        {
            events.Select(e => e.Data).Should().Equal("m0", "m1", "m2", "m3", "m4");
            events.Select(e => e.Id).Should().Equal(HubIds.Ids(runBase, 1, 5), "the hub's numbers, one after another from its run base");
        }
        hub.SubscriberCount.Should().Be(0, "breaking out of the loop disposes the subscription");
    }

    [Test]
    public void An_event_with_its_own_id_keeps_it()
    {
        var hub = new EventHub();
        var runBase = hub.LastSequence;
        hub.Publish(new ServerEvent(data: "x", id: "custom")).Id.Should().Be("custom");
        hub.Publish(new ServerEvent(data: "y")).Id.Should().Be(HubIds.Id(runBase, 2), "an event with its own id takes a number too");
    }

    [Test]
    public async Task A_reconnecting_client_gets_what_it_missed_then_live_events()
    {
        var hub = new EventHub(replay: 100);
        var sent = Enumerable.Range(1, 5).Select(i => hub.Publish(new ServerEvent(data: $"m{i}"))).ToList();

        var resumed = hub.Subscribe(lastEventId: sent[1].Id);
        hub.Publish(new ServerEvent(data: "m6"));

        (await TestApps.TakeAsync(resumed, 4)).Select(e => e.Data).Should().Equal("m3", "m4", "m5", "m6");
    }

    [Test]
    public async Task A_cursor_older_than_the_replay_buffer_gets_all_it_holds()
    {
        var hub = new EventHub(replay: 3);
        var sent = Enumerable.Range(1, 10).Select(i => hub.Publish(new ServerEvent(data: $"m{i}"))).ToList();

        // Older than what it holds (m2..m7 are gone) or unknown: the stream says so first (`resync`), then all it holds.
        var older = await TestApps.TakeAsync(hub.Subscribe(lastEventId: sent[0].Id), 4);
        older[0].Name.Should().Be("resync");
        older.Skip(1).Select(e => e.Data).Should().Equal("m8", "m9", "m10");
        var unknown = await TestApps.TakeAsync(hub.Subscribe(lastEventId: "unknown-id"), 4);
        unknown[0].Name.Should().Be("resync");
        unknown.Skip(1).Select(e => e.Data).Should().Equal("m8", "m9", "m10");
        (await TestApps.TakeAsync(hub.Subscribe(lastEventId: sent[8].Id), 1)).Select(e => e.Data).Should().Equal("m10");
    }

    [Test]
    public async Task A_subscriber_that_cannot_keep_up_is_disconnected_and_publishing_never_blocks()
    {
        var hub = new EventHub(replay: 10, bufferSize: 16);
        var stalled = hub.Subscribe();
        var healthy = hub.Subscribe();
        var healthyReceived = new List<string?>();
        var reader = Task.Run(async () =>
        {
            await foreach (var e in healthy)
            {
                healthyReceived.Add(e.Data);
                if (healthyReceived.Count == 1000) break;
            }
        });

        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < 1000; i++)
        {
            hub.Publish(new ServerEvent(data: i.ToString()));
            if (i % 10 == 0) await Task.Yield();
        }
        stopwatch.Stop();

        hub.Evictions.Should().BeGreaterThanOrEqualTo(1);
        var stalledEvents = new List<ServerEvent>();
        await foreach (var e in stalled) stalledEvents.Add(e);
        stalledEvents.Should().HaveCountLessThanOrEqualTo(16, "the queue is bounded; the stream ends after what it held");
        stalledEvents.Select(e => e.Data).Should().Equal(Enumerable.Range(0, stalledEvents.Count).Select(i => i.ToString()));
        TestContext.Out.WriteLine($"1000 publishes with a stalled subscriber: {stopwatch.Elapsed.TotalMilliseconds:0.0} ms");
    }

    [Test]
    public async Task Concurrent_publishers_keep_ids_unique_and_increasing_per_subscriber()
    {
        var hub = new EventHub(bufferSize: 100_000);
        var subscription = hub.Subscribe();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 5000; i++) hub.Publish(new ServerEvent(data: $"{t}:{i}"));
        })));

        var events = await TestApps.TakeAsync(subscription, 20_000);

        var ids = events.Select(e => long.Parse(e.Id!)).ToList();
        ids.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems().And.HaveCount(20_000);
        foreach (var publisher in Enumerable.Range(0, 4))
        {
            events.Where(e => e.Data!.StartsWith($"{publisher}:")).Select(e => int.Parse(e.Data![2..]))
                .Should().BeInAscendingOrder("each publisher's events keep their order");
        }
    }

    [Test]
    public async Task Fan_out_over_http_with_resume_and_live_subscriber_count()
    {
        var hub = new EventHub(replay: 100);
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var readers = Enumerable.Range(0, 3).Select(_ => TestApps.TakeAsync(client.EventsAsync("/feed", cancellationToken: cts.Token), 3)).ToList();
        while (hub.SubscriberCount < 3) await Task.Delay(10, cts.Token);
        foreach (var word in new[] { "a", "b", "c" }) hub.Publish(new ServerEvent(name: "word", data: word));

        foreach (var events in await Task.WhenAll(readers))
        {
            events.Select(e => e.Data).Should().Equal("a", "b", "c");
            events.Select(e => e.Name).Should().AllBe("word");
        }
        var firstId = (await readers[0])[0].Id;
        var resumed = await TestApps.TakeAsync(client.EventsAsync("/feed", lastEventId: firstId, cancellationToken: cts.Token), 2);
        resumed.Select(e => e.Data).Should().Equal("b", "c");

        while (hub.SubscriberCount > 0) await Task.Delay(10, cts.Token);
        hub.SubscriberCount.Should().Be(0);
    }

    [Test]
    public async Task A_broadcast_to_more_streams_than_one_wake_wave_reaches_every_stream_in_order()
    {
        // A broadcast wakes its subscribers in waves (each wave's sends go out before the next wave's drains rent output
        // blocks): every stream of every wave still gets every event, in order.
        const int Streams = 2 * TopicRing.WakeWave + 10;
        var hub = new EventHub(replay: 100);
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var direct = Enumerable.Range(0, Streams).Select(_ => hub.Subscribe(ct: cts.Token).GetAsyncEnumerator()).ToList();
        var readers = Enumerable.Range(0, Streams).Select(_ => TestApps.TakeAsync(client.EventsAsync("/feed", cancellationToken: cts.Token), 5)).ToList();
        await TestApps.UntilAsync(() => hub.SubscriberCount == 2 * Streams, TimeSpan.FromSeconds(60));

        for (var i = 0; i < 5; i++) hub.Publish(new ServerEvent(data: $"e{i}"));

        foreach (var events in await Task.WhenAll(readers)) events.Select(e => e.Data).Should().Equal("e0", "e1", "e2", "e3", "e4");
        foreach (var reader in direct)
        {
            var read = new List<string?>();
            for (var i = 0; i < 5; i++)
            {
                (await reader.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Should().BeTrue();
                read.Add(reader.Current.Data);
            }
            read.Should().Equal("e0", "e1", "e2", "e3", "e4");
        }
        await cts.CancelAsync();
    }

    [Test]
    public async Task Complete_ends_every_subscription()
    {
        var hub = new EventHub();
        var subscription = hub.Subscribe();
        hub.Publish(new ServerEvent(data: "last"));
        hub.Complete();

        var events = new List<ServerEvent>();
        await foreach (var e in subscription) events.Add(e);
        events.Select(e => e.Data).Should().Equal("last");
        FluentActions.Invoking(() => hub.Publish(new ServerEvent(data: "x"))).Should().Throw<InvalidOperationException>();
    }

    [Test]
    public void Bad_arguments_are_explained()
    {
        FluentActions.Invoking(() => new EventHub(replay: -1)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => new EventHub(bufferSize: 0)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Test]
    public async Task A_cancelled_subscription_unsubscribes_even_if_never_read()
    {
        var hub = new EventHub();
        using var cts = new CancellationTokenSource();
        _ = hub.Subscribe(ct: cts.Token);
        hub.SubscriberCount.Should().Be(1);
        await cts.CancelAsync();
        hub.SubscriberCount.Should().Be(0);
    }
}

public class EventHubReplayTests
{
    private static List<ServerEvent> Drain(IAsyncEnumerable<ServerEvent> subscription)
    {
        // Everything already published is available without waiting; stop at the first wait.
        var result = new List<ServerEvent>();
        var e = subscription.GetAsyncEnumerator();
        while (true)
        {
            var next = e.MoveNextAsync();
            if (!next.IsCompleted || !next.Result) break;
            result.Add(e.Current);
        }
        e.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return result;
    }

    [Test]
    public void A_publishers_own_numeric_ids_are_never_taken_for_hub_numbers()
    {
        var hub = new EventHub(replay: 10);
        hub.Publish(new ServerEvent(data: "a", id: "100"));
        hub.Publish(new ServerEvent(data: "b", id: "200"));
        hub.Publish(new ServerEvent(data: "c", id: "300"));

        Drain(hub.Subscribe(lastEventId: "200")).Select(e => e.Data).Should().Equal("c");
        Drain(hub.Subscribe(lastEventId: "1")).Select(e => e.Name ?? e.Data).Should().Equal(["resync", "a", "b", "c"], "\"1\" names no event this hub sent: the client is told, then gets all it holds");
        Drain(hub.Subscribe(lastEventId: "2")).Select(e => e.Name ?? e.Data).Should().Equal("resync", "a", "b", "c");
        var numberOfB = (hub.LastSequence - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Drain(hub.Subscribe(lastEventId: numberOfB)).Select(e => e.Name ?? e.Data).Should().Equal(["resync", "a", "b", "c"], "the hub's number of an event that carried its own id is not a position either");
    }

    [Test]
    public void Replay_matches_a_simple_model_for_any_mix_of_ids()
    {
        // Model: the last `replay` events; resume after the newest event carrying that id, else all of them, said to be a resync.
        Gen.Select(Gen.Int[1, 8], Gen.Int[0, 61].Array[0, 40], Gen.Int[0, 45])
            .Sample((replay, publishes, resumeAt) =>
            {
                var hub = new EventHub(replay: replay, bufferSize: 64);
                var runBase = hub.LastSequence;
                var sent = new List<ServerEvent>();
                // 0-30: an event the hub numbers; 31-61: the publisher's own id p0..p30 (repeats allowed).
                foreach (var n in publishes)
                    sent.Add(hub.Publish(new ServerEvent(data: sent.Count.ToString(), id: n > 30 ? $"p{n - 31}" : null)));
                var window = sent.Skip(Math.Max(0, sent.Count - replay)).ToList();
                var before = sent.Count > replay ? sent[sent.Count - replay - 1] : null;
                // Past what was sent: a number beyond the hub's last (odd), or an earlier run's (even; "0" asks for everything).
                var lastId = resumeAt < sent.Count ? sent[resumeAt].Id : resumeAt % 2 == 1 ? HubIds.Id(runBase, resumeAt) : $"{resumeAt}";
                var at = window.FindLastIndex(e => e.Id == lastId);
                var expected = at >= 0 ? window.Skip(at + 1).ToList() : window;
                // Exact: the id is in the window, or names the event just before it (the whole window follows it), or is 0
                // (everything retained). Anything else — beyond the last number, older than the window, an own id that aged
                // out, a number whose event carried its own id — is told first (`resync`), then the whole window.
                var exact = at >= 0 || before?.Id == lastId || lastId == "0";
                var got = Drain(hub.Subscribe(lastEventId: lastId));
                got.Select(e => e.Name ?? e.Data).Should().Equal((exact ? [] : new[] { "resync" }).Concat(expected.Select(e => e.Data)));
            }, iter: 2000);
    }
}

public class EventHubMisuseTests
{
    /// <summary>A backplane that numbers and delivers at once, in process: enough to check the hub's rules about it.</summary>
    private sealed class LoopbackBackplane : IEventBackplane
    {
        private readonly List<BackplaneEvent> _log = [];
        private IEventBackplaneSink? _sink;

        public long Attach(IEventBackplaneSink sink)
        {
            _sink = sink;
            return 0;
        }

        public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default)
        {
            var seq = _log.Count + 1L;
            _log.Add(new BackplaneEvent(seq, evt));
            _sink!.Deliver(seq, evt);
            return Task.FromResult(seq);
        }

        public Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<BackplaneEvent>>(_log.Where(e => e.Sequence >= from && e.Sequence <= to).ToList());

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Test]
    public async Task Publish_on_a_shared_hub_explains_that_PublishAsync_is_the_way()
    {
        var hub = new EventHub(backplane: new LoopbackBackplane());
        FluentActions.Invoking(() => hub.Publish(new ServerEvent(data: "x"))).Should().Throw<InvalidOperationException>().WithMessage("*await hub.PublishAsync(evt)*");
        (await hub.PublishAsync(new ServerEvent(data: "x"))).Id.Should().Be("1");
        hub.LastSequence.Should().Be(1);
    }

    [Test]
    public async Task A_subscription_is_read_once_and_says_so()
    {
        var hub = new EventHub();
        var subscription = hub.Subscribe();
        await using var first = subscription.GetAsyncEnumerator();
        FluentActions.Invoking(() => subscription.GetAsyncEnumerator()).Should().Throw<InvalidOperationException>().WithMessage("*call hub.Subscribe again*");
    }

    [Test]
    public async Task A_resume_on_a_shared_hub_reads_older_events_from_the_backplane()
    {
        var backplane = new LoopbackBackplane();
        var first = new EventHub(backplane: backplane);
        for (var i = 1; i <= 5; i++) await first.PublishAsync(new ServerEvent(data: $"m{i}"));
        // A second hub (another instance) attaches later: events 1-5 are only in the backplane's history.
        var later = new EventHub(backplane: new ForwardingBackplane(backplane, attachAt: 5));

        var events = new List<string?>();
        await foreach (var e in later.Subscribe(lastEventId: "2"))
        {
            events.Add(e.Data);
            if (events.Count == 3) break;
        }
        events.Should().Equal("m3", "m4", "m5");
    }

    /// <summary>Reads another backplane's history; attaches at a given number, as an instance started late does.</summary>
    private sealed class ForwardingBackplane(IEventBackplane inner, long attachAt) : IEventBackplane
    {
        public long Attach(IEventBackplaneSink sink) => attachAt;

        public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default) => inner.PublishAsync(evt, cancellationToken);

        public Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default) => inner.ReadAsync(from, to, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
