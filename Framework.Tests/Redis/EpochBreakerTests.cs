using System.Globalization;
using Bocata.Redis;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// A reviewer's attempts to break the hub epoch settled in Redis (Scripts/hub.lua): each test states the contract of API.md
/// "Resync is visible" / OFFSETS.md invariants 2-4 and failed on the change "One fact per topic, Redis losing data"; all
/// but the two Explicit ones pass since (a catch-up read delivers a break inside it as a hole, the default topic's open
/// streams end at a hole, numbers past 10^14 are written whole).
/// </summary>
[NonParallelizable]
public class EpochBreakerTests : RedisHubTests
{
    private static readonly HubOptions Options = new() { Tuned = true, Replay = 100, PublishTimeout = TimeSpan.FromSeconds(1) };

    private static long Number(ServerEvent e) => long.Parse(e.Id!, CultureInfo.InvariantCulture);

    private static async Task<List<ServerEvent>> PublishWhileRedisComesBackAsync(EventHub hub, string? topic, int count, string prefix)
    {
        var published = new List<ServerEvent>();
        for (var attempt = 0; attempt < 300 && published.Count < count; attempt++)
        {
            try
            {
                var e = new ServerEvent(data: $"{prefix} {published.Count}");
                published.Add(topic is null ? await hub.PublishAsync(e) : await hub.PublishAsync(topic, e));
            }
            catch (Exception e) when (e is RedisException or TimeoutException or BackplaneUnavailableException)
            {
                await Task.Delay(100);
            }
        }
        return published;
    }

    // ---- 1: every instance restarted together with a Redis that lost its data ------------------------------------------

    /// <summary>OFFSETS.md invariant 4 ("numbers only grow, across every failure"; "no number is given to two acknowledged
    /// publishes"). The app's instances and a Redis without persistence restart together (a host reboot, a compose restart):
    /// the first instance to reach Redis never knew the hub (floor 0, no epoch), so hub.lua settles "since = 0" and numbers
    /// from 1 again. No instance that knew the older epoch is left to begin another one.</summary>
    [Test]
    [Explicit("fails: a hub nobody knows (every instance new, Redis empty) numbers from 1, as a new hub must (API.md: numbers start at 1); telling it from one that lost everything needs numbers unique across runs - the decision issue 35 (restart-safe numbers) makes for the in-memory hub too")]
    public async Task After_every_instance_and_redis_restart_empty_no_number_is_given_twice()
    {
        var redis = await Hubs.StartRedisAsync();
        var port = redis.Port;
        var name = RedisServer.Topic();
        var a = await Hubs.InstanceAsync(redis.Endpoint, name, Options);
        var before = new List<ServerEvent>();
        for (var i = 1; i <= 5; i++) before.Add(await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"m{i}")));
        before.Select(Number).Should().Equal(1, 2, 3, 4, 5);

        // Everything restarts: the instance goes, Redis comes back empty, a new instance starts.
        await Hubs.StopAsync(a.Backplane);
        await Hubs.StopAsync(redis);
        await Hubs.StartRedisAsync(port);
        var n = await Hubs.InstanceAsync($"127.0.0.1:{port}", name, Options);
        var after = await PublishWhileRedisComesBackAsync(n.Hub, "rooms/1", 3, "after");

        after.Should().HaveCount(3);
        after.Select(Number).Should().AllSatisfy(x => x.Should().BeGreaterThan(5, "numbers 1-5 were given to acknowledged publishes already"));
    }

    /// <summary>The client-visible consequence of the test above: a browser that read m1, m2 before the restart resumes with
    /// Last-Event-ID 2 after the new instance published three events; m3-m5 (acknowledged) are gone with Redis. The resume must
    /// say resync; it is served as exact instead (the new epoch's #3 is taken for the event after the old #2).</summary>
    [Test]
    [Explicit("fails: a hub nobody knows (every instance new, Redis empty) numbers from 1, as a new hub must (API.md: numbers start at 1); telling it from one that lost everything needs numbers unique across runs - the decision issue 35 (restart-safe numbers) makes for the in-memory hub too")]
    public async Task After_every_instance_and_redis_restart_empty_a_resume_from_before_the_loss_says_resync()
    {
        var redis = await Hubs.StartRedisAsync();
        var port = redis.Port;
        var name = RedisServer.Topic();
        var a = await Hubs.InstanceAsync(redis.Endpoint, name, Options);
        const string Path = "/events?topic=rooms/1";
        ServerEvent m2;
        await using (var first = new StreamRecorder(await a.Client.OpenEventsAsync(Path)))
        {
            await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "m1"));
            m2 = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "m2"));
            await first.UntilAsync(m2.Id!);
            first.Events.Select(e => e.Data).Should().Equal("m1", "m2");
        }
        for (var i = 3; i <= 5; i++) await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: $"m{i}"));

        await Hubs.StopAsync(a.Backplane);
        await Hubs.StopAsync(redis);
        await Hubs.StartRedisAsync(port);
        var n = await Hubs.InstanceAsync($"127.0.0.1:{port}", name, Options);
        var after = await PublishWhileRedisComesBackAsync(n.Hub, "rooms/1", 3, "after");
        after.Should().HaveCount(3);

        var resumed = await Hubs.RecordAsync(n.Client, Path, m2.Id);
        var fence = await n.Hub.PublishAsync("rooms/1", new ServerEvent(data: "fence"));
        await resumed.UntilAsync(fence.Id!);
        TestContext.Out.WriteLine($"resumed from #{m2.Id} on the new instance: {Describe(resumed.Events)} (ended: {resumed.Ended}); published after: {Describe(after)}");
        resumed.Events.Should().NotBeEmpty();
        resumed.Events[0].Name.Should().Be("resync",
            $"m3-m5 were acknowledged and are lost: a resume from #{m2.Id} cannot be exact (got {Describe(resumed.Events)})");
    }

    // ---- 2: the default topic's open stream across a Redis that lost events this instance missed -------------------------

    /// <summary>API.md "Resync is visible": an open stream that cannot vouch for its topic ends (its client resumes and is told).
    /// B's pub/sub connection drops; A publishes m4, m5 (acknowledged); Redis dies before B's check reads them from the stream
    /// and comes back empty. The new epoch's first event names the epoch's start as its previous: a named topic's stream ends
    /// (EventHub.Hole), but the default topic's (<c>/feed</c>) only raises _localOldest and goes on: m3, then the new epoch's
    /// events, with m4 and m5 silently missing.</summary>
    [Test]
    public async Task After_redis_loses_events_an_instance_missed_its_open_default_topic_stream_ends_or_gets_them()
    {
        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var outcome = await DefaultTopicAcrossLossAsync();
            if (outcome is null)
            {
                TestContext.Out.WriteLine($"attempt {attempt}: B received m4/m5 before Redis died (the race was lost)");
                await Hubs.DisposeAsync();
                continue;
            }
            TestContext.Out.WriteLine(outcome.Value.Report);
            if (outcome.Value.Missed) Assert.Fail(outcome.Value.Report);
            return;
        }
        Assert.Inconclusive("B's subscriber reconnected before Redis died in every attempt");
    }

    private async Task<(bool Missed, string Report)?> DefaultTopicAcrossLossAsync()
    {
        var redis = await Hubs.StartRedisAsync();
        var port = redis.Port;
        var name = RedisServer.Topic();
        // B connects as its own Redis user, so that its subscriber (and its check) can be kept out while A publishes.
        static async Task UserAsync(RedisServer server, params string[] rules)
        {
            using var admin = await server.AdminAsync();
            await admin.GetServer(server.Endpoint).ExecuteAsync("ACL", ["SETUSER", "b", .. rules]);
        }
        await UserAsync(redis, "on", ">pw", "~*", "&*", "+@all");
        var a = await Hubs.InstanceAsync(redis.Endpoint, name, Options);
        var b = await Hubs.InstanceAsync($"{redis.Endpoint},user=b,password=pw", name, Options with { CheckInterval = TimeSpan.FromHours(1) });
        var stream = await Hubs.RecordAsync(b.Client, "/feed");
        var given = new List<ServerEvent>();
        for (var i = 1; i <= 3; i++) given.Add(await a.Hub.PublishAsync(new ServerEvent(data: $"m{i}")));
        await stream.UntilAsync(given[^1].Id!);
        stream.Events.Select(e => e.Data).Should().Equal("m1", "m2", "m3");

        // B's subscriber connection drops and cannot come back (nor can its check read the stream) while A publishes m4, m5.
        await UserAsync(redis, "-subscribe", "-ssubscribe", "-evalsha", "-eval", "-xrange", "-xrevrange");
        using (var admin = await redis.AdminAsync())
        {
            var server = admin.GetServer(redis.Endpoint);
            await server.ExecuteAsync("CLIENT", "KILL", "USER", "b");
            await Task.Delay(300);
            for (var i = 4; i <= 5; i++) given.Add(await a.Hub.PublishAsync(new ServerEvent(data: $"m{i}")));
            try
            {
                await server.ExecuteAsync("SHUTDOWN", "NOSAVE");
            }
            catch (RedisException)
            {
            }
        }
        await Hubs.StopAsync(redis);
        var again = await Hubs.StartRedisAsync(port);
        await UserAsync(again, "on", ">pw", "~*", "&*", "+@all");
        var after = await PublishWhileRedisComesBackAsync(a.Hub, null, 3, "after");
        after.Should().HaveCount(3);
        await stream.UntilAsync(after[^1].Id!);
        var got = stream.Events;
        if (got.Any(e => e.Data == "m4")) return null;
        var missed = !stream.Ended;
        return (missed, $"m4 and m5 were acknowledged (#{given[3].Id}, #{given[4].Id}) and lost with Redis; B never had them. " +
            $"The open /feed stream on B should end (its resume says resync); it went on: {Describe(got)} (ended: {stream.Ended})");
    }

    // ---- 2b: a catch-up read that spans the epoch's break (found by BOCATA_PROP_SEEDS 113:3) -----------------------------

    /// <summary>Redis restarts from a snapshot that lacks m3 (acknowledged): the older entries m1, m2 survive, the new epoch's
    /// first entry names the epoch's start as its previous (p = since). A client that had m1 resumes on B, which does not
    /// listen to the topic yet: its ring is "complete after" B's head (0: B heard nothing), so the resume is served from the
    /// ring and the ring is filled by the listen's catch-up read (RedisBackplane.OnMarkerAsync -> Deliver), which honours only
    /// the first entry's recorded previous number and delivers m2, then the new epoch's events as contiguous: m3 is skipped
    /// with no resync and the stream does not end.</summary>
    [Test]
    public async Task After_a_restore_that_lost_an_event_a_resume_on_an_instance_that_starts_listening_says_resync()
    {
        var dir = Directory.CreateTempSubdirectory("bocata-breaker-");
        try
        {
            var redis = await Hubs.StartRedisAsync(dataDirectory: dir.FullName);
            var port = redis.Port;
            var name = RedisServer.Topic();
            var a = await Hubs.InstanceAsync(redis.Endpoint, name, Options);
            var b = await Hubs.InstanceAsync(redis.Endpoint, name, Options);
            var m1 = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "m1"));
            await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "m2"));
            using (var admin = await redis.AdminAsync())
                await admin.GetServer(redis.Endpoint).ExecuteAsync("SAVE");
            var m3 = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "m3"));

            // Redis dies and comes back from the snapshot taken after m2 (as AOF everysec / RDB lose their last writes).
            await Hubs.StopAsync(redis);
            await Hubs.StartRedisAsync(port, dir.FullName);
            var after = await PublishWhileRedisComesBackAsync(a.Hub, "rooms/1", 2, "after");
            after.Should().HaveCount(2);

            var resumed = await Hubs.RecordAsync(b.Client, "/events?topic=rooms/1", m1.Id);
            var fence = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "fence"));
            await resumed.UntilAsync(fence.Id!);
            var got = resumed.Events;
            var told = got.Count > 0 && got[0].Name == "resync";
            var endedBeforeTheHole = resumed.Ended && !got.Any(e => e.Data!.StartsWith("after", StringComparison.Ordinal) || e.Data == "fence");
            (told || got.Any(e => e.Data == "m3") || endedBeforeTheHole).Should().BeTrue(
                $"m3 (#{m3.Id}) was acknowledged and lost with the restore: a resume from #{m1.Id} must say resync (or end before the hole); got {Describe(got)} (ended: {resumed.Ended})");
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

    // ---- 3: numbers past 10^14 (Lua 5.1 formats numbers with %.14g) -----------------------------------------------------

    /// <summary>publish.lua builds the stream entry id with <c>n .. '-0'</c> and the pub/sub message with <c>epoch .. '|' .. n</c>;
    /// Lua 5.1's tostring is %.14g, so 10^14 becomes "1e+14" (an invalid stream id) and 123456789012345 "1.2345678901234e+14".
    /// Each epoch adds at least GAP = 10^9: after at most 100,000 epochs (fewer with publishes between) the hub can no longer
    /// publish at all. Here the sequence is put just below 10^14, as 99,999 epochs would leave it.</summary>
    [Test]
    public async Task A_hub_whose_numbers_pass_10_to_the_14th_still_publishes()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await Hubs.InstanceAsync(redis.Endpoint, name, Options);
        await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "settles the epoch"));
        using (var admin = await redis.AdminAsync())
            await admin.GetDatabase().StringSetAsync($"bocata:{{{name}}}:seq", 99_999_999_999_998L);
        var below = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "99999999999999"));
        below.Id.Should().Be("99999999999999");
        var at = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "10^14"));
        at.Id.Should().Be("100000000000000");
    }
}
