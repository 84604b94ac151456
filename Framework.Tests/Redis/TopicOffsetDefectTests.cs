using System.Globalization;
using System.Reflection;
using Bocata.Redis;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// Reproductions of the defects of issue 32 (named topics across two instances on a real redis-server): resumes that replay
/// or lose events on an instance that heard little of the hub, numbers given twice after Redis lost data, holes in a topic
/// that an open stream skips silently, a stream opened after the header fallback or a subscriber counted before it was live
/// that misses what follows, listen markers that pile up, presence that comes back late, a hub name that breaks on a Redis
/// Cluster. Each test states the behaviour wanted; each failed on the code of the issue.
/// </summary>
[NonParallelizable]
public class TopicOffsetDefectTests : RedisHubTests
{
    private static readonly TimeSpan Deadline = RedisHubFixture.Deadline;

    /// <summary>Every instance here: tuned (on a connection of the fixture's, PresenceTtl 15 s), replay 100, unless a test says.</summary>
    private static readonly HubOptions Options = new() { Tuned = true, Replay = 100 };

    private Task<HubInstance> InstanceAsync(string configuration, string name, HubOptions? options = null) =>
        Hubs.InstanceAsync(configuration, name, options ?? Options);

    private Task<StreamRecorder> RecordAsync(TestClient client, string path, string? lastEventId = null) => Hubs.RecordAsync(client, path, lastEventId);

    private static long Number(ServerEvent e) => long.Parse(e.Id!, CultureInfo.InvariantCulture);

    /// <summary>A stream that missed events it had been promised: either it got every one of <paramref name="published"/> in
    /// order, or it ended where it stopped being complete and its resume (with the last id it got) starts with <c>event:
    /// resync</c>, then retained events after that id in increasing ids.</summary>
    private static async Task AssertEveryEventOrAVisibleResyncAsync(StreamRecorder stream, List<ServerEvent> published, TestClient client, string path)
    {
        var got = stream.Events;
        var wanted = published.Select(e => e.Id).ToList();
        if (got.Select(e => e.Id).SequenceEqual(wanted)) return;
        stream.Ended.Should().BeTrue(
            $"an open stream that did not get every event must end so its client resumes, never skip silently (published {published.Count}, " +
            $"got {got.Count}: {Describe(got.Take(3))} … {Describe(got.TakeLast(3))})");
        got.Select(e => e.Id).Should().Equal(wanted.Take(got.Count), "what an ended stream showed is a gapless prefix");
        await using var resumed = new StreamRecorder(client.EventsAsync(path, got.Count == 0 ? null : got[^1].Id));
        await resumed.UntilAsync(published[^1].Id!);
        var again = resumed.Events;
        again.Should().NotBeEmpty();
        again[0].Name.Should().Be("resync", "a resume across a hole starts with a visible resync");
        again.Skip(1).Select(Number).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems()
            .And.AllSatisfy(n => n.Should().BeGreaterThan(got.Count == 0 ? 0 : Number(got[^1])));
    }

    // ---- 1: a resume on an instance that heard little of a busy hub -------------------------------------------------------

    [Test]
    public async Task A_resume_on_another_instance_from_the_1200th_event_gets_only_what_came_after_it()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        await using var onA = await a.Client.OpenEventsAsync("/events?topic=rooms/1");
        var reader = TestApps.TakeAsync(onA, 1200, Deadline);
        var published = new List<ServerEvent>();
        for (var i = 1; i <= 1200; i++) published.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"e{i}")));
        (await reader).Select(e => e.Id).Should().Equal(published.Select(e => e.Id), "precondition: the client read all 1,200 on A");
        published[^1].Id.Should().Be("1200");

        // A died; the client resumes on B, which holds no stream, with the last id it got.
        var resumed = await RecordAsync(b.Client, "/events?topic=rooms/1", lastEventId: "1200");
        var after = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "after"));
        await resumed.UntilAsync(after.Id!);

        var got = resumed.Events;
        got.Select(e => e.Id).Should().Equal([after.Id], $"the client had 1..1200: only the one after it (got {got.Count}: {Describe(got.Take(3))} … {Describe(got.TakeLast(2))}; ended: {resumed.Ended})");
    }

    [Test]
    public async Task A_resume_on_an_instance_that_heard_little_of_a_busy_hub_gets_exactly_what_it_missed()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        await using var onA = await a.Client.OpenEventsAsync("/events?topic=users/7");
        var reader = TestApps.TakeAsync(onA, 3, Deadline);
        for (var i = 0; i < 2000; i++) await a.Hub.PublishAsync($"users/{100 + i % 50}", new ServerEvent(data: $"other {i}"));
        var mine = new List<ServerEvent>();
        for (var i = 1; i <= 3; i++) mine.Add(await a.Hub.PublishAsync("users/7", new ServerEvent(data: $"e{i}")));
        (await reader).Select(e => e.Data).Should().Equal(["e1", "e2", "e3"], "precondition: the client read e1-e3 on A");

        var resumed = await RecordAsync(b.Client, "/events?topic=users/7", lastEventId: mine[1].Id);
        var e4 = await a.Hub.PublishAsync("users/7", new ServerEvent(data: "e4"));
        await resumed.UntilAsync(e4.Id!);

        var got = resumed.Events;
        got.Select(e => e.Data).Should().Equal(["e3", "e4"], $"resumed after e2 (#{mine[1].Id}); got {Describe(got)}, ended: {resumed.Ended}");
        got.Select(e => e.Id).Should().Equal(mine[2].Id, e4.Id);
    }

    // ---- 2: a publisher's own id on a named topic -------------------------------------------------------------------------

    [TestCase(false, TestName = "A_resume_with_a_publishers_own_id_on_a_named_topic_on_another_instance_gets_every_event_after_it(B started after the publishes)")]
    [TestCase(true, TestName = "A_resume_with_a_publishers_own_id_on_a_named_topic_on_another_instance_gets_every_event_after_it(B started before the publishes)")]
    public async Task A_resume_with_a_publishers_own_id_on_a_named_topic_on_another_instance_gets_every_event_after_it(bool bStartsFirst)
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var early = bStartsFirst ? await InstanceAsync(redis.Endpoint, name) : null;
        await using var onA = await a.Client.OpenEventsAsync("/events?topic=orders/1");
        var reader = TestApps.TakeAsync(onA, 3, Deadline);
        for (var i = 1; i <= 3; i++) await a.Hub.PublishAsync("orders/1", new ServerEvent(data: $"o{i}", id: $"order-{i}"));
        (await reader).Select(e => e.Id).Should().Equal(["order-1", "order-2", "order-3"], "precondition: the client read them on A");
        var b = early ?? await InstanceAsync(redis.Endpoint, name);

        var resumed = await RecordAsync(b.Client, "/events?topic=orders/1", lastEventId: "order-1");
        await a.Hub.PublishAsync("orders/1", new ServerEvent(data: "o4", id: "order-4"));
        await resumed.UntilAsync("order-4");

        var got = resumed.Events;
        got.Select(e => e.Id).Should().Equal(["order-2", "order-3", "order-4"], $"resumed after order-1; got {Describe(got)}, ended: {resumed.Ended}");
    }

    // ---- 3, 4: numbers only grow ------------------------------------------------------------------------------------------

    /// <summary>Publishes through a Redis that is coming back, retrying until it answers; with an idempotency key per event, so
    /// a publish that timed out on the client but ran in Redis is not published twice by its retry.</summary>
    private static async Task<List<ServerEvent>> PublishWhileRedisComesBackAsync(EventHub hub, string topic, int count, string prefix)
    {
        var published = new List<ServerEvent>();
        for (var attempt = 0; attempt < 300 && published.Count < count; attempt++)
        {
            try
            {
                published.Add(await hub.PublishAsync(topic, new ServerEvent(data: $"{prefix} {published.Count}"), $"{prefix}-{published.Count}"));
            }
            catch (Exception e) when (e is RedisException or TimeoutException or BackplaneUnavailableException)
            {
                await Task.Delay(100);
            }
        }
        return published;
    }

    [Test]
    public async Task After_redis_restarts_empty_a_publish_only_instance_never_gives_a_number_twice()
    {
        var redis = await Hubs.StartRedisAsync();
        var port = redis.Port;
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name, Options with { PublishTimeout = TimeSpan.FromSeconds(1) });
        var before = new List<ServerEvent>();
        for (var i = 1; i <= 10; i++) before.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"m{i}")));
        before.Select(Number).Should().Equal(Enumerable.Range(1, 10).Select(i => (long)i), "precondition");

        // Redis dies and comes back empty on the same port (no persistence).
        await Hubs.StopAsync(redis);
        await Hubs.StartRedisAsync(port);
        var after = await PublishWhileRedisComesBackAsync(a.Hub, "rooms/1", 3, "after");

        after.Should().HaveCount(3);
        after.Select(Number).Should().AllSatisfy(n => n.Should().BeGreaterThan(10, "numbers 1-10 were given already: never again"));
    }

    [Test]
    public async Task After_a_restore_from_an_older_snapshot_new_numbers_exceed_every_one_given_and_reach_the_subscribing_instance()
    {
        var dir = Directory.CreateTempSubdirectory("bocata-redis-");
        try
        {
            var redis = await Hubs.StartRedisAsync(dataDirectory: dir.FullName);
            var port = redis.Port;
            var name = RedisServer.Topic();
            var options = Options with { PublishTimeout = TimeSpan.FromSeconds(1) };
            var a = await InstanceAsync(redis.Endpoint, name, options);
            var b = await InstanceAsync(redis.Endpoint, name, options);
            var stream = await RecordAsync(b.Client, "/events?topic=rooms/1");
            var given = new List<ServerEvent>();
            using (var admin = await redis.AdminAsync())
            {
                for (var i = 1; i <= 5; i++) given.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"m{i}")));
                await admin.GetServer(redis.Endpoint).ExecuteAsync("SAVE");
                for (var i = 6; i <= 8; i++) given.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"m{i}")));
            }
            await stream.UntilCountAsync(8);
            stream.Events.Select(e => e.Data).Should().Equal(Enumerable.Range(1, 8).Select(i => $"m{i}"), "precondition: B's client got m1-m8");

            // Redis dies and comes back from the snapshot taken after 5: the same epoch, a lower sequence.
            await Hubs.StopAsync(redis);
            await Hubs.StartRedisAsync(port, dir.FullName);
            var after = await PublishWhileRedisComesBackAsync(a.Hub, "rooms/1", 3, "after");

            after.Should().HaveCount(3);
            var highest = given.Max(Number);
            after.Select(Number).Should().AllSatisfy(n => n.Should().BeGreaterThan(highest, $"numbers up to {highest} were given already"));
            // Redis restarted: what it had not saved may be lost, so the hub numbers in a new epoch, and the open stream, which
            // cannot vouch for what was published while its instance was cut off, ends; its client resumes, is told, and gets
            // every event confirmed since.
            await stream.UntilAsync(after[^1].Id!);
            stream.Ended.Should().BeTrue("a stream that cannot vouch for the events before a new epoch ends");
            stream.Events.Select(e => e.Data).Should().Equal(Enumerable.Range(1, 8).Select(i => $"m{i}"));
            var resumed = await RecordAsync(b.Client, "/events?topic=rooms/1", stream.Events[^1].Id);
            await resumed.UntilAsync(after[^1].Id!);
            resumed.Events[0].Name.Should().Be("resync", Describe(resumed.Events));
            resumed.Events.Skip(1).Select(e => e.Data).Should().Equal(["after 0", "after 1", "after 2"],
                "every event PublishAsync confirmed reaches the subscribing instance");
        }
        finally
        {
            await Hubs.DisposeAsync();
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    // ---- 5: a hole left by trimming ---------------------------------------------------------------------------------------

    private static async Task TakeForDeadAsync(RedisServer redis, string name, RedisBackplane backplane, TimeSpan presenceTtl)
    {
        backplane.SuspendHeartbeat();
        using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        await TestApps.UntilAsync(async () =>
            await db.SortedSetScoreAsync($"bocata:{{{name}}}:instances", backplane.InstanceId) < DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - presenceTtl.TotalMilliseconds - 500,
            Deadline);
    }

    [Test]
    public async Task A_stream_whose_topic_lost_trimmed_events_gets_them_all_or_ends_and_resumes_with_a_visible_resync()
    {
        var redis = await Hubs.StartRedisAsync();
        var name = RedisServer.Topic();
        var ttl = TimeSpan.FromSeconds(2);
        var options = Options with { PresenceTtl = ttl, CheckInterval = TimeSpan.FromMilliseconds(200), TopicStreamMaxLength = 100 };
        var a = await InstanceAsync(redis.Endpoint, name, options);
        var b = await InstanceAsync(redis.Endpoint, name, options);
        const string Path = "/events?topic=rooms/1";
        var stream = await RecordAsync(b.Client, Path);
        var published = new List<ServerEvent> { await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "before")) };
        await stream.UntilAsync(published[0].Id!);

        // B's heartbeat stalls: A takes it for dead and stops sending it the topic while 400 are published; the topic's
        // stream keeps about 100 of them.
        await TakeForDeadAsync(redis, name, b.Backplane, ttl);
        for (var i = 0; i < 400; i++) published.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"e{i}")));
        b.Backplane.ReceivedEvents.Should().Be(1, "precondition: an instance taken for dead is sent nothing");
        b.Backplane.ResumeHeartbeat();
        await stream.UntilAsync(published[^1].Id!);

        await AssertEveryEventOrAVisibleResyncAsync(stream, published, b.Client, Path);
    }

    // ---- 6, 7: an instance whose listening lags --------------------------------------------------------------------------

    /// <summary>An instance whose Redis user may not run scripts until <see cref="AllowListeningAsync"/>: it connects, reads,
    /// heartbeats and writes its presence, but cannot listen to a topic (listening is a script), as when its listen is slow
    /// to take effect in Redis.</summary>
    private async Task<HubInstance> InstanceThatCannotListenYetAsync(RedisServer redis, string name)
    {
        using (var admin = await redis.AdminAsync())
            await admin.GetServer(redis.Endpoint).ExecuteAsync("ACL", "SETUSER", "lagging", "on", ">lagging", "~*", "&*", "+@all", "-@scripting");
        return await InstanceAsync($"{redis.Endpoint},user=lagging,password=lagging", name);
    }

    private static async Task AllowListeningAsync(RedisServer redis)
    {
        using var admin = await redis.AdminAsync();
        await admin.GetServer(redis.Endpoint).ExecuteAsync("ACL", "SETUSER", "lagging", "+@scripting");
    }

    /// <summary>Until <paramref name="backplane"/> heartbeat <paramref name="count"/> more times (its lease's time in Redis moved).</summary>
    private static async Task HeartbeatsAsync(RedisServer redis, string name, RedisBackplane backplane, int count)
    {
        using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        var key = $"bocata:{{{name}}}:instances";
        var last = await db.SortedSetScoreAsync(key, backplane.InstanceId);
        for (var seen = 0; seen < count; seen++)
        {
            var before = last;
            await TestApps.UntilAsync(async () => (last = await db.SortedSetScoreAsync(key, backplane.InstanceId)) > (before ?? 0), Deadline);
            last.Should().BeGreaterThan(before ?? 0, "precondition: the instance heartbeats");
        }
    }

    /// <summary>Opens a stream on topics <paramref name="instance"/> cannot listen to: its headers wait for them at most 5 s,
    /// then go out anyway.</summary>
    private async Task<StreamRecorder> OpenAfterTheHeaderFallbackAsync(HubInstance instance, string path)
    {
        // The fallback waits 5 s in an app; 2 s here (the same path, a shorter wait), restored after the test.
        HubSubscription.ReadyWait = TimeSpan.FromSeconds(2);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stream = await RecordAsync(instance.Client, path);
        clock.Elapsed.Should().BeGreaterThan(TimeSpan.FromSeconds(1.9), "precondition: the headers came after the fallback, the instance never listened");
        return stream;
    }

    [TearDown]
    public void RestoreReadyWait() => HubSubscription.ReadyWait = TimeSpan.FromSeconds(5);

    [Test]
    public async Task After_the_header_fallback_of_an_instance_that_could_not_listen_every_event_published_after_the_headers_arrives()
    {
        var redis = await Hubs.StartRedisAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "before the stream"));
        var b = await InstanceThatCannotListenYetAsync(redis, name);

        var stream = await OpenAfterTheHeaderFallbackAsync(b, "/events?topic=rooms/1");
        var published = new List<ServerEvent>();
        for (var i = 0; i < 5; i++) published.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"after the headers {i}")));
        await AllowListeningAsync(redis);
        published.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "once B may listen")));
        await stream.UntilAsync(published[^1].Id!);

        stream.Events.Select(e => e.Id).Should().Equal(published.Select(e => e.Id),
            $"every event published after the client had the headers, in order, none from before (got {Describe(stream.Events)}; ended: {stream.Ended})");
    }

    [Test]
    public async Task After_the_header_fallback_of_an_instance_started_while_redis_was_down_every_event_published_after_the_headers_arrives()
    {
        // Apps' instances: their own connections, publishes fail at once while Redis is down.
        var options = new HubOptions { Replay = 100, PublishTimeout = TimeSpan.FromSeconds(1) };
        var port = TestApps.FreePort();
        var name = RedisServer.Topic();
        var b = await InstanceAsync($"127.0.0.1:{port},connectTimeout=500", name, options);

        var stream = await OpenAfterTheHeaderFallbackAsync(b, "/events?topic=rooms/1");

        // Redis comes back; another instance publishes at once, while B may still be reconnecting and listening, until the
        // stream got something; then a few more.
        var redis = await Hubs.StartRedisAsync(port);
        var a = await InstanceAsync(redis.Endpoint, name, options);
        var published = new List<ServerEvent>();
        var publishing = System.Diagnostics.Stopwatch.StartNew();
        while (stream.Events.Count == 0 && !stream.Ended && publishing.Elapsed < Deadline)
        {
            published.AddRange(await PublishWhileRedisComesBackAsync(a.Hub, "rooms/1", 1, $"while B comes back {published.Count}"));
            await stream.UntilCountAsync(1, TimeSpan.FromMilliseconds(100));
        }
        published.AddRange(await PublishWhileRedisComesBackAsync(a.Hub, "rooms/1", 3, "once B is back"));
        published.Should().HaveCountGreaterThan(3, "precondition: Redis is back");
        await stream.UntilAsync(published[^1].Id!);

        stream.Events.Select(e => e.Id).Should().Equal(published.Select(e => e.Id),
            $"every event published after the client had the headers, in order (got {Describe(stream.Events)}; ended: {stream.Ended})");
    }

    [Test]
    public async Task A_direct_subscriber_counted_on_another_instance_gets_what_that_instance_publishes_next()
    {
        // B's subscriber is registered while B cannot listen yet, and B's heartbeat goes on: whenever A counts it, what A
        // publishes next reaches it.
        var redis = await Hubs.StartRedisAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceThatCannotListenYetAsync(redis, name);
        var subscriber = Hubs.Own(new StreamRecorder(b.Hub.Subscribe(["rooms/1"])));
        var publisher = Task.Run(async () =>
        {
            await TestApps.UntilAsync(async () => await a.Hub.CountSubscribersAsync("rooms/1") == 1, Deadline);
            return await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "as soon as A counts B's subscriber"));
        });

        await HeartbeatsAsync(redis, name, b.Backplane, 2);
        await AllowListeningAsync(redis);
        var published = await publisher;

        (await a.Hub.CountSubscribersAsync("rooms/1")).Should().Be(1, "precondition: A counts B's subscriber");
        await subscriber.UntilAsync(published.Id!);
        subscriber.Events.Select(e => e.Id).Should().Equal([published.Id], $"a subscriber counted as present gets what is published next (got {Describe(subscriber.Events)})");
    }

    // ---- 8: a stall longer than the dropped flag's life -------------------------------------------------------------------

    private async Task StallPastTheDroppedFlagAsync(bool waitForTheFlagToExpire)
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var ttl = TimeSpan.FromSeconds(2);
        var options = Options with { PresenceTtl = ttl, CheckInterval = TimeSpan.FromMilliseconds(200) };
        var a = await InstanceAsync(redis.Endpoint, name, options);
        var b = await InstanceAsync(redis.Endpoint, name, options);
        const string Path = "/events?topic=users/1&topic=rooms/1";
        var stream = await RecordAsync(b.Client, Path);
        var published = new List<ServerEvent> { await a.Hub.PublishAsync("users/1", new ServerEvent(data: "before")) };
        await stream.UntilAsync(published[0].Id!);

        await TakeForDeadAsync(redis, name, b.Backplane, ttl);
        for (var i = 0; i < 10; i++) published.Add(await a.Hub.PublishAsync(i % 2 == 0 ? "users/1" : "rooms/1", new ServerEvent(data: $"stall {i}")));
        using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        var instances = $"bocata:{{{name}}}:instances";
        (await db.SortedSetScoreAsync(instances, b.Backplane.InstanceId)).Should().BeNull("precondition: A took B for dead (its lease is gone)");
        b.Backplane.ReceivedEvents.Should().Be(1, "precondition: an instance taken for dead is sent nothing");
        if (waitForTheFlagToExpire)
        {
            // The stall goes on past the life of every key the backplane refreshes (4 x max(PresenceTtl, 15 s) = 60 s): what
            // tells B it was taken for dead must not have expired meanwhile.
            await Task.Delay(TimeSpan.FromSeconds(61));
        }
        else
        {
            // What used to say "taken for dead" was a flag that expired after 60 s; whatever else exists in Redis about B, only
            // its lease (the instances set, which nothing expires) may tell it.
            foreach (var key in new[] { $"bocata:{{{name}}}:dropped" }) await db.KeyDeleteAsync(key);
        }
        b.Backplane.ResumeHeartbeat();

        // Publishing goes on; every event must reach the stream, in order, or the stream must end (resume: resync).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; clock.Elapsed < Deadline && !stream.Ended; i++)
        {
            published.Add(await a.Hub.PublishAsync(i % 2 == 0 ? "rooms/1" : "users/1", new ServerEvent(data: $"after {i}")));
            await stream.UntilAsync(published[^1].Id!, TimeSpan.FromMilliseconds(250));
            if (stream.Has(published[^1].Id!) && stream.Events.Count >= published.Count) break;
        }
        await stream.UntilCountAsync(published.Count, TimeSpan.FromSeconds(1));

        var got = stream.Events;
        got.Select(Number).Should().BeInAscendingOrder($"ids never go backwards on a stream: {Describe(got)}");
        await AssertEveryEventOrAVisibleResyncAsync(stream, published, b.Client, Path);
    }

    [Test]
    public async Task After_a_stall_longer_than_the_dropped_flags_life_a_stream_gets_every_event_in_order()
    {
        await StallPastTheDroppedFlagAsync(waitForTheFlagToExpire: false);
    }

    [Test]
    [Explicit("takes > 60 s: waits for the dropped flag to expire for real")]
    public async Task After_a_real_stall_of_more_than_60_seconds_a_stream_gets_every_event_in_order()
    {
        await StallPastTheDroppedFlagAsync(waitForTheFlagToExpire: true);
    }

    // ---- 10: lost listen markers ------------------------------------------------------------------------------------------

    [Test]
    public async Task Listen_batches_whose_markers_were_lost_when_pub_sub_dropped_do_not_accumulate()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var stream = await RecordAsync(b.Client, "/events?topic=users/1&topic=rooms/1");
        var first = await a.Hub.PublishAsync("users/1", new ServerEvent(data: "first"));
        await stream.UntilAsync(first.Id!);

        for (var kill = 0; kill < 5; kill++)
        {
            await admin.GetServer(redis.Endpoint).ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
            var back = await a.Hub.PublishAsync(kill % 2 == 0 ? "rooms/1" : "users/1", new ServerEvent(data: $"after kill {kill}"));
            await stream.UntilAsync(back.Id!);
            stream.Has(back.Id!).Should().BeTrue($"precondition: the stream works again after kill {kill}");
        }

        var field = typeof(RedisBackplane).GetField("_batches", BindingFlags.NonPublic | BindingFlags.Instance);
        if (field is null)
            Assert.Inconclusive("RedisBackplane._batches is gone: count the new listening room's pending listen batches here instead.");
        int Pending() => ((System.Collections.ICollection)field!.GetValue(b.Backplane)!).Count;
        await TestApps.UntilAsync(() => Pending() == 0, Deadline);
        Pending().Should().Be(0, "every listen batch was answered or superseded: none is kept forever");
    }

    // ---- 11: presence comes back at the next heartbeat --------------------------------------------------------------------

    [Test]
    public async Task An_instance_taken_for_dead_counts_again_within_two_heartbeats_of_coming_back()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var ttl = TimeSpan.FromSeconds(2);
        var interval = TimeSpan.FromMilliseconds(200);
        var options = Options with { PresenceTtl = ttl, CheckInterval = interval };
        var a = await InstanceAsync(redis.Endpoint, name, options);
        var b = await InstanceAsync(redis.Endpoint, name, options);
        await using var stream = await b.Client.OpenEventsAsync("/events?topic=rooms/1");
        await TestApps.UntilAsync(async () => await a.Hub.CountSubscribersAsync("rooms/1") == 1, Deadline);
        (await a.Hub.CountSubscribersAsync("rooms/1")).Should().Be(1, "precondition: B's subscriber counts");

        b.Backplane.SuspendHeartbeat();
        await TestApps.UntilAsync(async () => await a.Hub.CountSubscribersAsync("rooms/1") == 0, Deadline);
        (await a.Hub.CountSubscribersAsync("rooms/1")).Should().Be(0, "precondition: B was taken for dead");

        b.Backplane.ResumeHeartbeat();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await TestApps.UntilAsync(async () => await a.Hub.CountSubscribersAsync("rooms/1") == 1, Deadline);
        var took = clock.Elapsed;

        (await a.Hub.CountSubscribersAsync("rooms/1")).Should().Be(1);
        took.Should().BeLessThan(2 * interval + TimeSpan.FromSeconds(1), $"B heartbeats every {interval.TotalMilliseconds} ms; it counted again after {took.TotalSeconds:0.0} s");
    }

    // ---- 12: a hub name with a closing brace on a Redis Cluster -----------------------------------------------------------

    [Test]
    public async Task A_hub_named_with_a_leading_closing_brace_works_on_a_redis_cluster()
    {
        var cluster = await Hubs.StartClusterAsync();
        const string Name = "}chat";
        var a = await InstanceAsync(cluster.Configuration, Name);
        var b = await InstanceAsync(cluster.Configuration, Name);
        var feed = await RecordAsync(b.Client, "/feed");
        var topic = await RecordAsync(b.Client, "/events?topic=rooms/1");

        var published = await a.Hub.PublishAsync(new ServerEvent(data: "hello"));
        var named = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "room"));
        await feed.UntilAsync(published.Id!);
        await topic.UntilAsync(named.Id!);

        feed.Events.Select(e => e.Data).Should().Equal("hello");
        topic.Events.Select(e => e.Data).Should().Equal("room");
    }

    // ---- Resync is visible ------------------------------------------------------------------------------------------------

    [Test]
    public async Task A_resume_with_a_number_this_hub_never_gave_starts_with_a_resync_notice_then_live_events()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var before = await a.Hub.PublishAsync("rooms/2", new ServerEvent(data: "before"));

        // 10^12 is beyond every number Redis gave: B (which heard nothing) asks Redis, and the client is told, not skipped.
        var stream = await RecordAsync(b.Client, "/events?topic=rooms/2", "1000000000000");
        await TestApps.UntilAsync(() => stream.Events.Count >= 1, Deadline);
        var notice = stream.Events[0];
        notice.Name.Should().Be("resync");
        notice.Id.Should().BeNull("a resync notice has no id: the client's Last-Event-ID stays what it was");
        using (var data = System.Text.Json.JsonDocument.Parse(notice.Data!))
        {
            data.RootElement.GetProperty("lastEventId").GetString().Should().Be("1000000000000");
            data.RootElement.GetProperty("reason").GetString().Should().Contain("not a number this hub gave");
        }
        var after = await a.Hub.PublishAsync("rooms/2", new ServerEvent(data: "after"));
        await stream.UntilAsync(after.Id!);
        stream.Events.Skip(1).Select(e => e.Data).Should().Equal(["after"], $"then live events (not {before.Id}, published before the stream)");
    }

    [Test]
    public async Task A_resume_that_is_exact_sends_no_resync_notice_on_either_instance()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var published = new List<ServerEvent>();
        for (var i = 0; i < 5; i++) published.Add(await a.Hub.PublishAsync(i % 2 == 0 ? "rooms/3" : "users/3", new ServerEvent(data: $"e{i}")));
        foreach (var instance in new[] { a, b })
        {
            var stream = await RecordAsync(instance.Client, "/events?topic=rooms/3&topic=users/3", published[1].Id);
            await stream.UntilAsync(published[^1].Id!);
            stream.Events.Select(e => e.Id).Should().Equal(published.Skip(2).Select(e => e.Id), "an exact resume has no notice, no gap, no duplicate");
        }
    }

    [Test]
    public async Task A_resume_from_before_a_range_trimmed_away_entirely_starts_with_a_resync_notice()
    {
        // Found by the review of the first slice: with every retained entry after the resuming instance's complete point, its
        // read of the topic's history came back empty and was taken for "nothing happened" (t3..t32 lost silently).
        var redis = await Hubs.StartRedisAsync();
        using (var admin = await redis.AdminAsync())
            await admin.GetServer(redis.Endpoint).ExecuteAsync("CONFIG", "SET", "stream-node-max-entries", "4");
        var name = RedisServer.Topic();
        var options = Options with { TopicStreamMaxLength = 10 };
        var a = await InstanceAsync(redis.Endpoint, name, options);
        var b = await InstanceAsync(redis.Endpoint, name, options);
        var published = new List<ServerEvent>();
        for (var i = 1; i <= 45; i++) published.Add(await a.Hub.PublishAsync("T", new ServerEvent(data: $"t{i}")));

        // The client had t1 and t2; Redis kept only the newest dozen or so. A stream that meets the hole ends; the resume
        // after it says so first.
        for (var attempt = 1; ; attempt++)
        {
            var stream = await RecordAsync(b.Client, "/events?topic=T", published[1].Id);
            await TestApps.UntilAsync(() => stream.Ended || stream.Events.Count > 0, Deadline);
            if (stream.Events.Count == 0)
            {
                attempt.Should().BeLessThan(3, "a stream that ends on a hole is followed by a resume that says so");
                continue;
            }
            stream.Events[0].Name.Should().Be("resync", $"t3 and more were trimmed away: {Describe(stream.Events)}");
            await stream.UntilAsync(published[^1].Id!);
            stream.Events.Skip(1).Select(Number).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
            break;
        }
    }
}
