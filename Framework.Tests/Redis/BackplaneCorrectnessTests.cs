using Bocata.Testing;
using Bocata.Redis;
using Microsoft.Extensions.Logging;
using FluentAssertions;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// Broadcast correctness on a real redis-server (issue 19): no event is dropped while PublishAsync reports success — after
/// Redis is restored from an older snapshot, after an entry that cannot be decoded, after a gap too large to read at once,
/// with late messages of a lost epoch, and when Redis is down as the app starts; a resume means the same on every instance.
/// </summary>
[NonParallelizable]
public class BackplaneCorrectnessTests : RedisHubTests
{
    /// <summary>Every instance here: made as an app makes it, replay 1,000, no app unless a test serves one.</summary>
    private static readonly HubOptions Options = new() { Replay = 1000, Serve = false };

    /// <summary>An instance started while nothing answers on its port (Redis down, <see cref="Down"/>): publishes fail after
    /// 500 ms; the hub's default replay, an app and its client.</summary>
    private static readonly HubOptions WhileDown = new() { PublishTimeout = TimeSpan.FromMilliseconds(500) };

    private async Task<(EventHub Hub, RedisBackplane Backplane)> HubAsync(string endpoint, string topic, HubOptions? options = null)
    {
        var instance = await Hubs.InstanceAsync(endpoint, topic, options ?? Options);
        return (instance.Hub, instance.Backplane);
    }

    private static string Down(int port) => $"127.0.0.1:{port},connectTimeout=500";

    [Test]
    public async Task Resumes_on_either_instance_while_the_other_publishes_at_full_speed_are_exact()
    {
        // One instance publishes two topics as fast as eight publishes in flight allow; a client resumes again and again,
        // over HTTP on the other instance or directly on either, each time from the last id it read. Every resume goes on
        // at exactly the next number of the hub's one sequence; a resume that ends with nothing was evicted (counted), never
        // ended silently.
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var (a, _) = await HubAsync(redis.Endpoint, topic, Options with { Replay = 20000 });
        var onB = await Hubs.InstanceAsync(redis.Endpoint, topic, Options with { Replay = 20000, Serve = true });
        var (b, client) = (onB.Hub, onB.Client);
        using var stop = new CancellationTokenSource();
        var publisher = Task.Run(async () =>
        {
            var pending = new List<Task>();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                pending.Add(a.PublishAsync(i % 2 == 0 ? "a" : "b", new ServerEvent(data: $"m{i}")));
                if (pending.Count < 8) continue;
                await Task.WhenAll(pending);
                pending.Clear();
            }
            await Task.WhenAll(pending);
        });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (rounds, empty) = (0, 0);
        string? lastId = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(5) || rounds < 20)
        {
            rounds++;
            var overHttp = rounds % 2 == 0;
            var serving = overHttp || rounds % 4 == 3 ? b : a;
            var how = overHttp ? "HTTP on b" : serving == a ? "directly on a" : "directly on b";
            var evictionsBefore = serving.Evictions;
            var events = overHttp
                ? await TestApps.TakeAsync(client.EventsAsync("/events?topic=a&topic=b", lastId), 1 + rounds % 50)
                : await TestApps.TakeAsync(serving.Subscribe(["a", "b"], lastId), 1 + rounds % 50);
            if (events.Count == 0)
            {
                serving.Evictions.Should().BeGreaterThan(evictionsBefore, $"a resume {how} from {lastId} that ends with nothing was evicted (round {rounds})");
                empty++;
                continue;
            }
            var expected = lastId is null ? long.Parse(events[0].Id!, System.Globalization.CultureInfo.InvariantCulture) : long.Parse(lastId, System.Globalization.CultureInfo.InvariantCulture) + 1;
            events.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).Should()
                .Equal(Enumerable.Range(0, events.Count).Select(i => expected + i), $"a resume {how} from {lastId} goes on at the next number (round {rounds})");
            lastId = events[^1].Id;
        }
        await stop.CancelAsync();
        await publisher;
        TestContext.Out.WriteLine($"{rounds} resumes ({empty} evicted), last id {lastId}");
        rounds.Should().BeGreaterThan(empty);
    }

    [Test]
    public async Task A_publishers_own_id_resumes_the_same_on_an_instance_that_attached_later()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var (a, _) = await HubAsync(redis.Endpoint, topic);
        for (var i = 1; i <= 10; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
        await a.PublishAsync(new ServerEvent(data: "m11", id: "3"));
        await a.PublishAsync(new ServerEvent(data: "m12", id: "x-12"));
        for (var i = 13; i <= 15; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
        await TestApps.UntilAsync(() => a.LastSequence == 15);
        var (b, _) = await HubAsync(redis.Endpoint, topic);

        foreach (var hub in new[] { a, b })
        {
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "3"), 4)).Select(e => e.Data).Should().Equal("m12", "m13", "m14", "m15");
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "x-12"), 3)).Select(e => e.Data).Should().Equal("m13", "m14", "m15");
            (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "5"), 10)).Select(e => e.Data).Should().Equal(Enumerable.Range(6, 10).Select(i => $"m{i}"));
        }
    }

    [Test]
    public async Task After_redis_is_restored_from_an_older_snapshot_new_events_get_new_numbers_and_reach_every_instance()
    {
        var dir = Directory.CreateTempSubdirectory("bocata-redis-");
        var redis = await Hubs.StartRedisAsync(dataDirectory: dir.FullName);
        var port = redis.Port;
        var topic = RedisServer.Topic();
        var options = Options with { PublishTimeout = TimeSpan.FromSeconds(1) };
        var (a, _) = await HubAsync(redis.Endpoint, topic, options);
        var (b, _) = await HubAsync(redis.Endpoint, topic, options);
        using (var admin = await redis.AdminAsync())
        {
            for (var i = 1; i <= 5; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
            await admin.GetServer(redis.Endpoint).ExecuteAsync("SAVE");
            for (var i = 6; i <= 10; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
        }
        await TestApps.UntilAsync(() => b.LastSequence == 10);
        var reader = TestApps.TakeAsync(b.Subscribe(), 3, TimeSpan.FromSeconds(30));

        // Redis dies and comes back from the snapshot taken at 5: same epoch, a lower sequence.
        await Hubs.StopAsync(redis);
        await Hubs.StartRedisAsync(port, dir.FullName);
        var ids = new List<string?>();
        for (var attempt = 0; attempt < 200 && ids.Count < 3; attempt++)
        {
            try
            {
                ids.Add((await a.PublishAsync(new ServerEvent(data: $"after {ids.Count}"))).Id);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                await Task.Delay(100);
            }
        }

        ids.Should().HaveCount(3);
        ids.Select(id => long.Parse(id!)).Should().AllSatisfy(n => n.Should().BeGreaterThan(10, "numbers 6-10 were given already: never again"));
        // Redis restarted: a new epoch. B's open stream cannot vouch for what was published while it was cut off, so it ends;
        // a resume is told (resync), then gets every event confirmed since.
        (await reader).Should().BeEmpty("the open stream ends at the new epoch's first event");
        var resumed = await TestApps.TakeAsync(b.Subscribe(lastEventId: "10"), 4, TimeSpan.FromSeconds(30));
        resumed[0].Name.Should().Be("resync");
        resumed.Skip(1).Select(e => e.Data).Should().Equal("after 0", "after 1", "after 2");
        dir.Delete(recursive: true);
    }

    [Test]
    public async Task A_publish_that_timed_out_but_ran_later_is_retried_with_its_key_without_a_duplicate()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var topic = RedisServer.Topic();
        var (a, _) = await HubAsync(redis.Endpoint, topic, Options with { PublishTimeout = TimeSpan.FromMilliseconds(500) });
        var (b, _) = await HubAsync(redis.Endpoint, topic);
        var received = new List<ServerEvent>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var subscription = b.Subscribe(ct: cts.Token);
        var reader = Task.Run(async () =>
        {
            await foreach (var e in subscription) lock (received) received.Add(e);
        });

        // Redis pauses: the publish times out on the client, but Redis runs it when the pause ends.
        await admin.GetServer(redis.Endpoint).ExecuteAsync("CLIENT", "PAUSE", "1500", "ALL");
        var timedOut = await FluentActions.Awaiting(() => a.PublishAsync(new ServerEvent(data: "reading 1"), idempotencyKey: "sensor-7/1"))
            .Should().ThrowAsync<TimeoutException>();
        timedOut.Which.Message.Should().Contain("same idempotency key");
        await TestApps.UntilAsync(() => { lock (received) return received.Count == 1; }, TimeSpan.FromSeconds(10));

        // The caller retries with the same key: nothing is published twice, and it learns the event's id.
        var retried = await a.PublishAsync(new ServerEvent(data: "reading 1"), idempotencyKey: "sensor-7/1");
        await a.PublishAsync(new ServerEvent(data: "reading 2"), idempotencyKey: "sensor-7/2");
        await TestApps.UntilAsync(() => { lock (received) return received.Count >= 2; });
        await cts.CancelAsync();
        await reader.ContinueWith(_ => { });

        lock (received)
        {
            received.Select(e => e.Data).Should().Equal("reading 1", "reading 2");
            retried.Id.Should().Be(received[0].Id);
        }
    }

    [Test]
    public async Task Repairs_are_logged_through_the_apps_loggers_and_counted_without_any_wiring()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var logs = new Bocata.Tests.Middleware.ErrorHandlingTests.ListLoggerProvider();
        var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs));
        Hubs.Own(loggers);
        var (hub, _) = await HubAsync(redis.Endpoint, topic, Options with { Serve = true, Settings = s => s.LoggerFactory = loggers });
        long repaired = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Bocata" && instrument.Name == "bocata.backplane.repaired_events") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref repaired, value));
        listener.Start();

        // Two events appended without PUBLISH (a loss pub/sub never reports): the periodic check reads them back.
        using (var admin = await redis.AdminAsync())
        {
            var db = admin.GetDatabase();
            for (var i = 0; i < 2; i++)
            {
                var n = (long)await db.StringIncrementAsync($"bocata:{{{topic}}}:seq");
                await db.ExecuteAsync("XADD", $"bocata:{{{topic}}}:stream", $"{n}-0", "e", "{\"d\":\"silent\"}");
            }
        }
        await TestApps.UntilAsync(() => hub.LastSequence == 2);

        hub.LastSequence.Should().Be(2);
        await TestApps.UntilAsync(() => { lock (logs.Messages) return logs.Messages.Any(m => m.Contains("read from the stream")); });
        lock (logs.Messages) logs.Messages.Should().Contain(m => m.Contains(topic) && m.Contains("2 events missed on pub/sub were read from the stream"));
        Interlocked.Read(ref repaired).Should().BeGreaterThanOrEqualTo(2);
    }

    [Test]
    public async Task Repairs_logged_before_the_hubs_app_started_do_not_pin_an_earlier_apps_loggers()
    {
        // Once flaky under load: the backplane kept the first logger it made, from the app started before its own.
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var earlier = new Bocata.Tests.Middleware.ErrorHandlingTests.ListLoggerProvider();
        var earlierLoggers = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(earlier));
        Hubs.Own(earlierLoggers);
        var (hub, _) = await HubAsync(redis.Endpoint, topic, Options with { Serve = true, Settings = s => s.LoggerFactory = earlierLoggers });
        async Task AppendSilentlyAsync(long expected)
        {
            using var admin = await redis.AdminAsync();
            var db = admin.GetDatabase();
            var n = (long)await db.StringIncrementAsync($"bocata:{{{topic}}}:seq");
            await db.ExecuteAsync("XADD", $"bocata:{{{topic}}}:stream", $"{n}-0", "e", "{\"d\":\"silent\"}");
            await TestApps.UntilAsync(() => hub.LastSequence == expected);
        }
        await AppendSilentlyAsync(1);
        await TestApps.UntilAsync(() => { lock (earlier.Messages) return earlier.Messages.Any(m => m.Contains("read from the stream")); });

        var later = new Bocata.Tests.Middleware.ErrorHandlingTests.ListLoggerProvider();
        var laterLoggers = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(later));
        Hubs.Own(laterLoggers);
        var app = TestApps.Quiet(s => s.LoggerFactory = laterLoggers);
        app.Route("/", (req, res) => res.Text = "later");
        await using var client = app.CreateClient();
        (await client.GetStringAsync("/")).Should().Be("later");
        await AppendSilentlyAsync(2);
        await TestApps.UntilAsync(() => { lock (later.Messages) return later.Messages.Any(m => m.Contains("read from the stream")); });

        lock (later.Messages) later.Messages.Should().Contain(m => m.Contains(topic) && m.Contains("read from the stream"), "the loggers of the app started last");
    }

    [Test]
    public async Task An_entry_that_cannot_be_decoded_is_skipped_and_delivery_goes_on()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var (a, _) = await HubAsync(redis.Endpoint, topic);
        var (b, _) = await HubAsync(redis.Endpoint, topic);
        await a.PublishAsync(new ServerEvent(data: "first"));
        await TestApps.UntilAsync(() => b.LastSequence == 1);
        var reader = TestApps.TakeAsync(b.Subscribe(), 3, TimeSpan.FromSeconds(20));
        using (var admin = await redis.AdminAsync())
        {
            // Another codec version, or a manual write: a numbered entry without the field this one reads.
            var db = admin.GetDatabase();
            var n = (long)await db.StringIncrementAsync($"bocata:{{{topic}}}:seq");
            await db.ExecuteAsync("XADD", $"bocata:{{{topic}}}:stream", $"{n}-0", "x", "y");
            await admin.GetSubscriber().PublishAsync(RedisChannel.Literal($"bocata:{{{topic}}}:events"), "not a message");
        }
        var ids = new List<string?>();
        for (var i = 0; i < 3; i++) ids.Add((await a.PublishAsync(new ServerEvent(data: $"m{i}"))).Id);

        ids.Should().Equal("3", "4", "5");
        (await reader).Select(e => e.Data).Should().Equal("m0", "m1", "m2");
        await TestApps.UntilAsync(() => a.LastSequence == 5 && b.LastSequence == 5);
        (a.LastSequence, b.LastSequence).Should().Be((5, 5));
        (await TestApps.TakeAsync(b.Subscribe(lastEventId: "1"), 3)).Select(e => e.Data).Should().Equal("m0", "m1", "m2");
    }

    [Test]
    public async Task A_gap_far_larger_than_the_ring_is_read_in_pages_and_only_its_newest_events()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var (a, _) = await HubAsync(redis.Endpoint, topic, Options with { Replay = 100 });
        var subscription = a.Subscribe();
        using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        // 20,000 events that pub/sub never carried (appended straight to the stream, as if every message was lost).
        var batch = db.CreateBatch();
        var tasks = new List<Task>();
        var payload = $"{{\"d\":\"{new string('p', 2000)}\"}}";
        for (var n = 1; n <= 20_000; n++) tasks.Add(batch.ExecuteAsync("XADD", $"bocata:{{{topic}}}:stream", $"{n}-0", "e", payload));
        tasks.Add(batch.StringSetAsync($"bocata:{{{topic}}}:seq", 20_000));
        batch.Execute();
        await Task.WhenAll(tasks);
        var server = admin.GetServer(redis.Endpoint);
        await server.ExecuteAsync("CONFIG", "RESETSTAT");
        var sentBefore = await OutputBytesAsync(server);

        await TestApps.UntilAsync(() => a.LastSequence == 20_000, TimeSpan.FromSeconds(20));
        a.LastSequence.Should().Be(20_000);
        var sent = await OutputBytesAsync(server) - sentBefore;
        // Read newest first (XREVRANGE), in pages.
        var calls = await RedisServer.CallsAsync(server, "xrange", "xrevrange");
        TestContext.Out.WriteLine($"{calls} XRANGE/XREVRANGE calls, {sent / 1024} KB sent by Redis for a 20,000-event (40 MB) gap");
        calls.Should().BeInRange(2, 20, "the gap is read in bounded pages");
        sent.Should().BeLessThan(10L * 1024 * 1024, "only the newest events the ring can hold (2,049 of 2 KB) are read, not all 40 MB");

        // The subscriber was too far behind: ended, and "everything retained" is the newest events the ring holds, in order.
        var events = new List<ServerEvent>();
        await foreach (var e in subscription) events.Add(e);
        events.Should().HaveCountLessThan(20_000, "it ended (a hole: what was not read), never skipping silently");
        var resumed = Bocata.Tests.Sse.HubCorrectnessTests.Available(a.Subscribe(lastEventId: "0")).Select(e => long.Parse(e.Id!)).ToList();
        resumed.Should().HaveCountGreaterThanOrEqualTo(100).And.HaveCountLessThanOrEqualTo(2050, "at most what a ring holds: 2 x max(replay, bufferSize) + 2");
        resumed.Should().Equal(Enumerable.Range((int)resumed[0], resumed.Count).Select(i => (long)i));
        resumed[^1].Should().Be(20_000);
    }

    private static async Task<long> OutputBytesAsync(IServer server)
    {
        var info = (string)(await server.ExecuteAsync("INFO", "stats"))!;
        return long.Parse(info.Split('\n').First(l => l.StartsWith("total_net_output_bytes:")).Split(':')[1].Trim());
    }

    [Test]
    public async Task Late_messages_of_a_lost_epoch_never_switch_the_hub_back()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        var (a, _) = await HubAsync(redis.Endpoint, topic);
        for (var i = 1; i <= 5; i++) await a.PublishAsync(new ServerEvent(data: $"m{i}"));
        using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        var oldEpoch = (string)(await db.StringGetAsync($"bocata:{{{topic}}}:epoch"))!;
        await TestApps.UntilAsync(() => a.LastSequence == 5);
        var ids = new List<long>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var subscription = a.Subscribe(ct: cts.Token);
        var reader = Task.Run(async () =>
        {
            await foreach (var e in subscription) lock (ids) ids.Add(long.Parse(e.Id!));
        });

        // Redis lost its data and a new epoch began at 5; then a message of the old epoch arrives late.
        var channel = RedisChannel.Literal($"bocata:{{{topic}}}:events");
        await db.StringSetAsync($"bocata:{{{topic}}}:epoch", "new-epoch");
        await admin.GetSubscriber().PublishAsync(channel, "new-epoch|6|5|{\"d\":\"n6\"}");
        await TestApps.UntilAsync(() => a.LastSequence == 6);
        await admin.GetSubscriber().PublishAsync(channel, $"{oldEpoch}|4|3|{{\"d\":\"late\"}}");
        await admin.GetSubscriber().PublishAsync(channel, "new-epoch|7|6|{\"d\":\"n7\"}");
        await TestApps.UntilAsync(() => { lock (ids) return ids.Count >= 2; });
        await cts.CancelAsync();
        await reader.ContinueWith(_ => { });

        lock (ids) ids.Should().Equal(6, 7);
        a.LastSequence.Should().Be(7);
    }

    [Test]
    public async Task A_publish_while_redis_is_down_is_a_503_with_retry_after_not_a_500()
    {
        var instance = await Hubs.InstanceAsync(Down(TestApps.FreePort()), RedisServer.Topic(), WhileDown);
        var (hub, client) = (instance.Hub, instance.Client);

        var response = await client.PostAsync("/publish", new StringContent("x"));
        response.StatusCode.Should().Be(System.Net.HttpStatusCode.ServiceUnavailable);
        response.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(1));
        var body = await response.Content.ReadAsStringAsync();
        body.Should().Contain("could not be published").And.NotContain("Redis", "the reason stays in the server's log");
        await FluentActions.Awaiting(() => hub.PublishAsync(new ServerEvent(data: "y"))).Should().ThrowAsync<BackplaneUnavailableException>();
    }

    [Test]
    public async Task An_app_starts_while_redis_is_down_and_catches_up_when_it_comes_back()
    {
        var port = TestApps.FreePort();
        var instance = await Hubs.InstanceAsync(Down(port), RedisServer.Topic(), WhileDown);
        var (hub, client) = (instance.Hub, instance.Client);
        var reader = TestApps.TakeAsync(client.EventsAsync("/feed"), 2, TimeSpan.FromSeconds(30));
        await TestApps.UntilAsync(() => hub.SubscriberCount == 1);

        var started = DateTime.UtcNow;
        await FluentActions.Awaiting(() => hub.PublishAsync(new ServerEvent(data: "while down"))).Should().ThrowAsync<Exception>();
        (DateTime.UtcNow - started).Should().BeLessThan(TimeSpan.FromSeconds(10), "a publish fails in bounded time while Redis is down");

        await Hubs.StartRedisAsync(port);
        var ids = new List<string?>();
        for (var attempt = 0; attempt < 300 && ids.Count < 2; attempt++)
        {
            try
            {
                ids.Add((await hub.PublishAsync(new ServerEvent(data: $"up {ids.Count}"))).Id);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or InvalidOperationException)
            {
                await Task.Delay(100);
            }
        }
        ids.Should().Equal("1", "2");
        (await reader).Select(e => e.Data).Should().Equal("up 0", "up 1");
    }

    [Test]
    public async Task An_app_starts_while_redis_is_down_and_its_topic_streams_get_events_published_elsewhere_once_it_is_back()
    {
        // A stream of named topics opens (its headers are sent) once this instance listens to them on Redis: every event
        // published on another instance after that reaches it, though Redis was down when the instance started.
        var port = TestApps.FreePort();
        var topic = RedisServer.Topic();
        var client = (await Hubs.InstanceAsync(Down(port), topic, WhileDown)).Client;
        var redis = await Hubs.StartRedisAsync(port);
        var (other, _) = await HubAsync(redis.Endpoint, topic);

        await using var stream = await client.OpenEventsAsync("/events?topic=users/42&topic=rooms/7");
        var published = new List<string>();
        foreach (var (name, data) in new[] { ("users/42", "n1"), ("rooms/8", "not mine"), ("rooms/7", "m1"), ("users/42", "n2") })
        {
            await other.PublishAsync(name, new ServerEvent(data: data));
            if (data != "not mine") published.Add(data);
        }
        (await TestApps.TakeAsync(stream, 3, TimeSpan.FromSeconds(30))).Select(e => e.Data).Should().Equal(published);
    }
}

