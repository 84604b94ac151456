using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>Named topics across instances on Redis: an instance listens to a topic only while it has subscribers to it (and a
/// linger), never receives the events of topics none of its clients read, and a multi-topic stream resumes exactly on an
/// instance that never held its topics.</summary>
[NonParallelizable]
public class TopicListeningTests : RedisHubTests
{
    /// <summary>Every instance here: tuned (on a connection of the fixture's, PresenceTtl 15 s), replay 100, unless a test says.</summary>
    private static readonly HubOptions Options = new() { Tuned = true, Replay = 100 };

    private Task<HubInstance> InstanceAsync(string endpoint, string name, HubOptions? options = null) =>
        Hubs.InstanceAsync(endpoint, name, options ?? Options);

    private static async Task<long> ListenersAsync(RedisServer redis, string name, string topic)
    {
        using var admin = await redis.AdminAsync();
        return await admin.GetDatabase().SetLengthAsync($"bocata:{{{name}}}:listeners:{topic}");
    }

    [Test]
    public async Task An_instance_receives_no_event_of_a_topic_none_of_its_clients_read()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        await using var stream = await b.Client.OpenEventsAsync("/events?topic=users/1");

        for (var i = 0; i < 100; i++)
        {
            await a.Hub.PublishAsync("rooms/9", new ServerEvent(data: $"room {i}"));
            await a.Hub.PublishAsync($"users/{i + 2}", new ServerEvent(data: $"other user {i}"));
            if (i % 40 == 0) await a.Hub.PublishAsync("users/1", new ServerEvent(data: $"mine {i}"));
        }

        var mine = await TestApps.TakeAsync(stream, 3, TimeSpan.FromSeconds(20));
        mine.Select(e => e.Data).Should().Equal("mine 0", "mine 40", "mine 80");
        b.Backplane.ReceivedEvents.Should().Be(3, "Redis sent this instance only the events of the topic its client reads");
        b.Backplane.UnservedMessages.Should().Be(0);
        b.Hub.TopicCount.Should().Be(1);
        (await ListenersAsync(redis, name, "rooms/9")).Should().Be(0, "no instance listens to a topic nobody reads");
        (await ListenersAsync(redis, name, "users/1")).Should().Be(1);
    }

    [Test]
    public async Task An_instance_stops_listening_a_linger_after_the_last_subscriber_left_and_listens_again_when_one_comes()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name, Options with { Linger = TimeSpan.FromMilliseconds(300) });
        await using (var stream = await b.Client.OpenEventsAsync("/events?topic=rooms/1"))
        {
            await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "while listening"));
            (await TestApps.TakeAsync(stream, 1)).Single().Data.Should().Be("while listening");
        }
        await TestApps.UntilAsync(() => b.Backplane.ListenedTopics.Length == 0, TimeSpan.FromSeconds(20));
        await TestApps.UntilAsync(async () => await ListenersAsync(redis, name, "rooms/1") == 0, TimeSpan.FromSeconds(20));
        var received = b.Backplane.ReceivedEvents;

        for (var i = 0; i < 10; i++) await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"nobody here {i}"));
        await using var again = await b.Client.OpenEventsAsync("/events?topic=rooms/1");
        await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "back"));

        (await TestApps.TakeAsync(again, 1)).Single().Data.Should().Be("back");
        b.Backplane.ReceivedEvents.Should().Be(received + 1, "nothing was sent to this instance while it did not listen");
    }

    [Test]
    public async Task An_event_published_on_another_instance_right_after_the_stream_opened_is_never_missed()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        for (var i = 0; i < 20; i++)
        {
            // Each topic is new to B: its events reach B only once B's listening took effect in Redis.
            await using var stream = await b.Client.OpenEventsAsync($"/events?topic=users/{i}&topic=rooms/{i}");
            var first = await a.Hub.PublishAsync($"users/{i}", new ServerEvent(data: $"u{i}"));
            var second = await a.Hub.PublishAsync($"rooms/{i}", new ServerEvent(data: $"r{i}"));
            var events = await TestApps.TakeAsync(stream, 2, TimeSpan.FromSeconds(20));
            events.Select(e => e.Data).Should().Equal($"u{i}", $"r{i}");
            events.Select(e => e.Id).Should().Equal(first.Id, second.Id);
        }
    }

    [Test]
    public async Task A_multi_topic_stream_resumes_exactly_on_an_instance_that_never_held_its_topics()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var ids = new List<string>();
        List<ServerEvent> firstPart;
        await using (var stream = await a.Client.OpenEventsAsync("/events?topic=users/7&topic=rooms/3"))
        {
            for (var i = 0; i < 10; i++)
            {
                ids.Add((await a.Hub.PublishAsync(i % 2 == 0 ? "users/7" : "rooms/3", new ServerEvent(data: $"e{i}"))).Id!);
                await a.Hub.PublishAsync("rooms/4", new ServerEvent(data: $"not asked for {i}"));
            }
            firstPart = await TestApps.TakeAsync(stream, 4, TimeSpan.FromSeconds(20));
        }
        firstPart.Select(e => e.Data).Should().Equal("e0", "e1", "e2", "e3");

        // Instance A died; the browser reconnects to B, which never listened to these topics, with the last id it got.
        await using var resumed = await b.Client.OpenEventsAsync("/events?topic=users/7&topic=rooms/3", lastEventId: firstPart[^1].Id);
        var live = await b.Hub.PublishAsync("users/7", new ServerEvent(data: "live"));
        var rest = await TestApps.TakeAsync(resumed, 7, TimeSpan.FromSeconds(20));

        rest.Select(e => e.Data).Should().Equal("e4", "e5", "e6", "e7", "e8", "e9", "live");
        rest.Select(e => e.Id).Should().Equal([.. ids.Skip(4), live.Id]);
    }

    [Test]
    public async Task A_reconnect_storm_on_a_new_instance_costs_redis_reads_per_topic_not_per_client()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var ids = new List<string>();
        for (var i = 0; i < 40; i++) ids.Add((await a.Hub.PublishAsync(i % 2 == 0 ? "users/1" : "rooms/1", new ServerEvent(data: $"e{i}"))).Id!);
        var b = await InstanceAsync(redis.Endpoint, name);
        await admin.GetServer(redis.Endpoint).ExecuteAsync("CONFIG", "RESETSTAT");

        // 50 clients that had read different amounts resume on B at once.
        var resumes = Enumerable.Range(0, 50).Select(async c =>
        {
            var from = c % 30;
            var events = await TestApps.TakeAsync(b.Client.EventsAsync("/events?topic=users/1&topic=rooms/1", lastEventId: ids[from]), 39 - from, TimeSpan.FromSeconds(30));
            events.Select(e => e.Data).Should().Equal(Enumerable.Range(from + 1, 39 - from).Select(i => $"e{i}"), $"client {c} resumed after e{from}");
        }).ToList();
        await Task.WhenAll(resumes);

        var reads = await RedisServer.CallsAsync(admin.GetServer(redis.Endpoint), "xrange", "xrevrange");
        TestContext.Out.WriteLine($"50 resuming clients on 2 topics: {reads} stream reads");
        reads.Should().BeLessThanOrEqualTo(8, "one history read per topic, and one catch-up read per topic when B starts listening");
    }

    [Test]
    public async Task A_reconnect_storm_on_a_new_instance_while_events_keep_coming_costs_reads_per_topic_not_per_client()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var ids = new List<string>();
        for (var i = 0; i < 40; i++) ids.Add((await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"e{i}"))).Id!);
        var b = await InstanceAsync(redis.Endpoint, name);
        await admin.GetServer(redis.Endpoint).ExecuteAsync("CONFIG", "RESETSTAT");

        // The feed goes on (an event every 20 ms) while 100 clients that had read different amounts resume on B.
        using var stop = new CancellationTokenSource();
        var published = 40;
        var publisher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"e{published}"));
                published++;
                await Task.Delay(20);
            }
        });
        var resumes = Enumerable.Range(0, 100).Select(async c =>
        {
            var from = c % 30;
            var events = await TestApps.TakeAsync(b.Client.EventsAsync("/events?topic=rooms/1", lastEventId: ids[from]), 39 - from, TimeSpan.FromSeconds(60));
            events.Select(e => e.Data).Should().Equal(Enumerable.Range(from + 1, 39 - from).Select(i => $"e{i}"), $"client {c} resumed after e{from}");
        }).ToList();
        await Task.WhenAll(resumes);
        await stop.CancelAsync();
        await publisher;

        var reads = await RedisServer.CallsAsync(admin.GetServer(redis.Endpoint), "xrange", "xrevrange");
        TestContext.Out.WriteLine($"100 resuming clients while {published - 40} events were published: {reads} stream reads");
        reads.Should().BeLessThanOrEqualTo(10, "one history read per topic while B starts listening, not one per client");
    }

    [Test]
    public async Task After_the_pub_sub_connection_drops_a_multi_topic_stream_keeps_every_event_in_order()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        await using var stream = await b.Client.OpenEventsAsync("/events?topic=users/1&topic=rooms/1");
        var reader = TestApps.TakeAsync(stream, 60, TimeSpan.FromSeconds(30));
        var ids = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            if (i == 20) await admin.GetServer(redis.Endpoint).ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
            ids.Add((await a.Hub.PublishAsync(i % 3 == 0 ? "users/1" : "rooms/1", new ServerEvent(data: $"e{i}"))).Id!);
        }

        var events = await reader;
        events.Select(e => e.Data).Should().Equal(Enumerable.Range(0, 60).Select(i => $"e{i}"));
        events.Select(e => e.Id).Should().Equal(ids);
    }

    [Test]
    public async Task An_instance_taken_for_dead_while_its_heartbeat_stalled_catches_up_on_every_event_it_was_not_sent()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        // PresenceTtl is the same on every instance: a publisher takes an instance silent for longer for dead.
        var options = Options with { PresenceTtl = TimeSpan.FromSeconds(2), CheckInterval = TimeSpan.FromMilliseconds(200) };
        var a = await InstanceAsync(redis.Endpoint, name, options);
        var b = await InstanceAsync(redis.Endpoint, name, options);
        await using var stream = await b.Client.OpenEventsAsync("/events?topic=users/1&topic=rooms/1");
        var reader = TestApps.TakeAsync(stream, 11, TimeSpan.FromSeconds(30));
        await a.Hub.PublishAsync("users/1", new ServerEvent(data: "before"));
        await TestApps.UntilAsync(() => b.Backplane.ReceivedEvents == 1);

        // B's heartbeat stalls past PresenceTtl: the next publish takes it for dead and stops sending it the topic.
        b.Backplane.SuspendHeartbeat();
        using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        await TestApps.UntilAsync(async () =>
            await db.SortedSetScoreAsync($"bocata:{{{name}}}:instances", b.Backplane.InstanceId) < DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 2500,
            TimeSpan.FromSeconds(20));
        for (var i = 0; i < 10; i++) await a.Hub.PublishAsync(i % 2 == 0 ? "users/1" : "rooms/1", new ServerEvent(data: $"e{i}"));
        (await db.SortedSetScoreAsync($"bocata:{{{name}}}:instances", b.Backplane.InstanceId)).Should().BeNull("a listener taken for dead leaves the instances: its lease, found at its next heartbeat however long it stalled");
        b.Backplane.ReceivedEvents.Should().Be(1, "an instance taken for dead is sent nothing");
        b.Backplane.ResumeHeartbeat();

        var events = await reader;
        events.Select(e => e.Data).Should().Equal(["before", .. Enumerable.Range(0, 10).Select(i => $"e{i}")]);
        events.Select(e => long.Parse(e.Id!)).Should().BeInAscendingOrder();
    }

    [Test]
    public async Task Concurrent_publishes_go_in_batches_numbered_in_order_and_every_one_is_delivered()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        await using var stream = await b.Client.OpenEventsAsync("/events?topic=users/1&topic=rooms/1");
        var feed = b.Hub.Subscribe();
        await admin.GetServer(redis.Endpoint).ExecuteAsync("CONFIG", "RESETSTAT");

        var publishes = Enumerable.Range(0, 3000).Select(i => (i % 3) switch
        {
            0 => a.Hub.PublishAsync("users/1", new ServerEvent(data: $"e{i}")),
            1 => a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"e{i}")),
            _ => a.Hub.PublishAsync(new ServerEvent(data: $"e{i}")),
        }).ToList();
        var published = await Task.WhenAll(publishes);

        var numbers = published.Select(e => long.Parse(e.Id!)).ToList();
        numbers.Should().OnlyHaveUniqueItems().And.BeInAscendingOrder("concurrent publishes are numbered in the order they were made");
        var named = await TestApps.TakeAsync(stream, 2000, TimeSpan.FromSeconds(30));
        named.Select(e => e.Id).Should().Equal(published.Where((_, i) => i % 3 != 2).Select(e => e.Id));
        var defaults = await TestApps.TakeAsync(feed, 1000, TimeSpan.FromSeconds(30));
        defaults.Select(e => e.Id).Should().Equal(published.Where((_, i) => i % 3 == 2).Select(e => e.Id));
        var scripts = await RedisServer.CallsAsync(admin.GetServer(redis.Endpoint), "evalsha", "eval");
        TestContext.Out.WriteLine($"3,000 concurrent publishes: {scripts} scripts");
        scripts.Should().BeLessThan(300, "publishes that arrive together go to Redis together");
    }

    [Test]
    public async Task A_short_presence_ttl_does_not_rewrite_every_count_and_listener_set_each_heartbeat()
    {
        // Liveness is read from heartbeats; presence hashes and listener sets are only kept from expiring, every 15 s at the
        // least. A 1 s PresenceTtl must not make an instance rewrite its 1,000 topics' counts and listener sets every second.
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name, Options with { PresenceTtl = TimeSpan.FromSeconds(1) });
        using var stop = new CancellationTokenSource();
        const int Topics = 1_000;
        for (var i = 0; i < Topics; i++) _ = a.Hub.Subscribe([$"users/{i}"], ct: stop.Token);
        using var admin = await redis.AdminAsync();
        var server = admin.GetServer(redis.Endpoint);
        // Every count and listener set written once (the subscriptions' own writes) before the window opens.
        await TestApps.UntilAsync(async () => await ListenersAsync(redis, name, $"users/{Topics - 1}") == 1
            && await admin.GetDatabase().KeyExistsAsync($"bocata:{{{name}}}:presence:users/{Topics - 1}"));
        var before = await RedisServer.CallsAsync(server, "hset", "sadd");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(4)); // a window in which writes are counted, not a wait for a condition
        var writes = await RedisServer.CallsAsync(server, "hset", "sadd") - before;
        TestContext.Out.WriteLine($"{writes} presence and listener writes in {clock.Elapsed.TotalSeconds:0.0} s for {Topics} topics with PresenceTtl 1 s");
        // A refresh writes each topic's count and listener set once (2,000 writes); one may fall in the window, not four.
        writes.Should().BeLessThan(3 * Topics, "not a rewrite of every topic per PresenceTtl (2,000 writes a second here)");
        (await a.Hub.CountSubscribersAsync("users/0")).Should().Be(1, "the live instance still counts");
        (await ListenersAsync(redis, name, "users/0")).Should().Be(1, "and still listens");
        await stop.CancelAsync();
    }
}
