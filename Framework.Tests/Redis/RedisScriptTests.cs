using Bocata.Redis;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// Each of the backplane's Lua scripts (Framework.Redis/Scripts/*.lua) on its own against a real redis-server: the guarantees
/// their headers state, with keys laid out as <see cref="RedisBackplane"/> lays them out (one hash tag per hub).
/// </summary>
[NonParallelizable]
public class RedisScriptTests
{
    private ConnectionMultiplexer _redis = null!;
    private IDatabase _db = null!;
    private string _prefix = null!;

    [SetUp]
    public async Task Connect()
    {
        var server = await RedisServer.SharedAsync();
        _redis = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        _db = _redis.GetDatabase();
        _prefix = $"bocata:{{{RedisServer.Topic()}}}:";
    }

    [TearDown]
    public async Task Disconnect() => await _redis.DisposeAsync();

    private RedisKey Key(string name) => _prefix + name;

    private sealed record Publish(string Topic, string Payload = "{}", string? IdempotencyKey = null, long? Expected = null);

    /// <summary>Runs publish.lua as RedisBackplane.Send does: one batch of <paramref name="events"/>.</summary>
    private Task<long[]> PublishAsync(long floor, long retentionSeconds, params Publish[] events) => PublishAsync(floor, "", retentionSeconds, events);

    private async Task<long[]> PublishAsync(long floor, string knownEpoch, long retentionSeconds, params Publish[] events)
    {
        var keys = new List<RedisKey> { Key("seq"), Key("epoch"), Key("instances") };
        var values = new List<RedisValue> { "epoch-" + Guid.NewGuid().ToString("N")[..8], floor, _prefix + "events", _prefix + "to:", 600, 0, "PUBLISH", events.Length, knownEpoch };
        foreach (var e in events)
        {
            var stream = e.Topic.Length == 0 ? Key("stream") : Key("topic:" + e.Topic);
            keys.Add(stream);
            keys.Add(e.Topic.Length == 0 ? stream : Key("listeners:" + e.Topic));
            keys.Add(e.IdempotencyKey is null ? stream : Key("once:" + e.IdempotencyKey));
            values.AddRange([e.Payload, 1000, e.Topic.Length == 0 ? "" : retentionSeconds, e.IdempotencyKey is null ? "" : "1", e.Expected is { } expected ? expected : ""]);
        }
        keys.AddRange([Key("since"), Key("run"), Key("horizon")]);
        var result = (RedisResult[])(await _db.ScriptEvaluateAsync(RedisScripts.Load("publish"), [.. keys], [.. values]))!;
        return [.. result.Select(r => (long)r)];
    }

    private async Task<Dictionary<string, string>[]> EntriesAsync(string topic) =>
        [.. (await _db.StreamRangeAsync(Key("topic:" + topic))).Select(e => e.Values.ToDictionary(v => (string)v.Name!, v => (string)v.Value!))];

    private async Task<long> ServerSecondsAsync() => long.Parse((string)((RedisResult[])(await _db.ExecuteAsync("TIME"))!)[0]!);

    private async Task<long> LowWaterAsync(string topic, long retentionSeconds, long floor = 0, string knownEpoch = "") =>
        (long)await _db.ScriptEvaluateAsync(RedisScripts.Load("lowwater"), [Key("topic:" + topic), Key("horizon"), .. EpochKeys],
            [retentionSeconds, "epoch-" + Guid.NewGuid().ToString("N")[..8], floor, knownEpoch]);

    private RedisKey[] EpochKeys => [Key("seq"), Key("epoch"), Key("since"), Key("run")];

    /// <summary>check.lua: (epoch, sequence, since, began now).</summary>
    private async Task<(string Epoch, long Sequence, long Since, bool Began)> CheckAsync(long floor, string knownEpoch)
    {
        var r = (RedisResult[])(await _db.ScriptEvaluateAsync(RedisScripts.Load("check"), EpochKeys, ["epoch-" + Guid.NewGuid().ToString("N")[..8], floor, knownEpoch]))!;
        return ((string)r[0]!, (long)r[1], (long)r[2], (long)r[3] == 1);
    }

    /// <summary>What the hub looks like to Redis after it restarted: the run it was settled under is another.</summary>
    private async Task ForgetTheRunAsync() => await _db.StringSetAsync(Key("run"), "a-run-before-a-restart");

    private const long Gap = 1_000_000_000;

    // ---- publish.lua ------------------------------------------------------------------------------------------------------

    [Test]
    public async Task A_conditional_publish_is_refused_with_the_topic_s_newest_number_and_takes_no_number()
    {
        var first = await PublishAsync(0, 3600, new Publish("lots/1"));
        var batch = await PublishAsync(first[0], 3600,
            new Publish("lots/1", Expected: first[0]),        // still the newest: published
            new Publish("lots/1", Expected: first[0]),        // the one before it moved the topic on: refused
            new Publish("lots/2", Expected: 0),               // a topic without events: expected 0
            new Publish("lots/1"));

        batch[0].Should().Be(first[0] + 1);
        batch[1].Should().Be(-1 - batch[0], "refused, naming the topic's newest number");
        batch[2].Should().Be(batch[0] + 1, "a refused publish takes no number");
        batch[3].Should().Be(batch[2] + 1);
        (await EntriesAsync("lots/1")).Should().HaveCount(3);
        (await EntriesAsync("lots/1"))[2]["p"].Should().Be(batch[0].ToString(System.Globalization.CultureInfo.InvariantCulture), "the chain skips nothing");
    }

    [Test]
    public async Task Publish_numbers_a_new_hub_from_1_and_a_sequence_behind_the_floor_from_a_new_epoch_above_it()
    {
        (await PublishAsync(0, 3600, new Publish("a"), new Publish("b"))).Should().Equal(1, 2);
        (await PublishAsync(2, 3600, new Publish("a"))).Should().Equal([3], "the same epoch: after the sequence");
        await _db.StringSetAsync(Key("seq"), 1); // the sequence went behind a number it gave (restored or cleared)
        var epoch = (string)(await _db.StringGetAsync(Key("epoch")))!;
        (await PublishAsync(3, 3600, new Publish("a"))).Should().Equal([3 + Gap + 1], "3 was returned to this publisher: a new epoch begins above it");
        ((string)(await _db.StringGetAsync(Key("epoch")))!).Should().NotBe(epoch);
        ((long)await _db.StringGetAsync(Key("since"))).Should().Be(3 + Gap);
    }

    // ---- the epoch (hub.lua, check.lua) -----------------------------------------------------------------------------------

    [Test]
    public async Task Check_settles_a_new_hub_at_0_and_keeps_its_epoch_while_redis_runs()
    {
        var first = await CheckAsync(0, "");
        first.Should().Match<(string Epoch, long Sequence, long Since, bool Began)>(c => c.Sequence == 0 && c.Since == 0 && c.Began, "a hub nobody knew numbers from 1");
        await PublishAsync(0, first.Epoch, 3600, new Publish("a"));
        var again = await CheckAsync(1, first.Epoch);
        again.Should().Be((first.Epoch, 1L, 0L, false));
    }

    [Test]
    public async Task After_redis_restarted_a_new_epoch_begins_above_every_number_known_and_resumes_from_before_it_are_told()
    {
        var epoch = (await CheckAsync(0, "")).Epoch;
        await PublishAsync(0, epoch, 3600, new Publish("t"), new Publish("t"), new Publish("t"));
        await ForgetTheRunAsync();
        // A lagging instance (it knows 2) is first: the instance that was given 3 never told it. The gap covers 3.
        var settled = await CheckAsync(2, epoch);
        settled.Began.Should().BeTrue();
        settled.Epoch.Should().NotBe(epoch);
        settled.Since.Should().Be(3 + Gap, "above the sequence and the floor, with room for numbers other instances were given");
        (await LowWaterAsync("t", 3600, 3, settled.Epoch)).Should().Be(3 + Gap, "nothing of an older epoch can be vouched for");
        (await PublishAsync(3, settled.Epoch, 3600, new Publish("t"))).Should().Equal(3 + Gap + 1);
        (await EntriesAsync("t"))[^1]["p"].Should().Be((3 + Gap).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "a topic's first event in an epoch names the epoch's start as its previous: every reader from before sees a hole");
    }

    [Test]
    public async Task After_redis_lost_its_data_the_first_reader_or_publisher_begins_a_new_epoch()
    {
        var epoch = (await CheckAsync(0, "")).Epoch;
        await PublishAsync(0, epoch, 3600, new Publish("t"), new Publish("t"));
        await _db.KeyDeleteAsync([Key("seq"), Key("epoch"), Key("since"), Key("run"), Key("topic:t")]);
        (await LowWaterAsync("t", 3600, 2, epoch)).Should().Be(2 + Gap, "a resume from 1 cannot be exact: 2 is gone with the data");
        (await PublishAsync(2, epoch, 3600, new Publish("t"))).Should().Equal(2 + Gap + 1);
    }

    [Test]
    public async Task An_epoch_begun_by_an_instance_that_never_knew_the_hub_is_begun_again_by_one_that_did()
    {
        var epoch = (await CheckAsync(0, "")).Epoch;
        await PublishAsync(0, epoch, 3600, new Publish("t"), new Publish("t"), new Publish("t"));
        await _db.KeyDeleteAsync([Key("seq"), Key("epoch"), Key("since"), Key("run"), Key("topic:t")]);
        // A new instance (no floor, no epoch) finds nothing: it cannot tell a lost hub from a new one.
        (await PublishAsync(0, 3600, new Publish("t"))).Should().Equal([1]);
        var ignorant = (string)(await _db.StringGetAsync(Key("epoch")))!;
        // An instance that knew the older epoch and was given 3 sees an epoch that began at 0: it begins another.
        var settled = await CheckAsync(3, epoch);
        settled.Began.Should().BeTrue();
        settled.Epoch.Should().NotBe(ignorant);
        settled.Since.Should().Be(3 + Gap);
        (await CheckAsync(3 + Gap, ignorant)).Began.Should().BeFalse("an epoch that began above 0 is not begun again");
    }

    [Test]
    public async Task Publish_records_each_entry_s_topic_previous_number_and_dense_offset()
    {
        await PublishAsync(0, 3600, new Publish("t"), new Publish("u"), new Publish("t"));
        await PublishAsync(0, 3600, new Publish("t"));
        var t = await EntriesAsync("t");
        t.Select(e => (e["p"], e["o"])).Should().Equal(("0", "1"), ("1", "2"), ("3", "3"));
        (await EntriesAsync("u")).Select(e => (e["p"], e["o"])).Should().Equal([("0", "1")]);
        t.Should().AllSatisfy(e => e.Should().NotContainKey("h", "the horizon is recorded only on a stream created anew after an older one could expire"));
    }

    [Test]
    public async Task Publish_with_a_repeated_idempotency_key_returns_the_first_number_and_adds_nothing()
    {
        var first = await PublishAsync(0, 3600, new Publish("t", IdempotencyKey: "k1"));
        var again = await PublishAsync(0, 3600, new Publish("t", IdempotencyKey: "k1"), new Publish("t"));
        again.Should().Equal(first[0], first[0] + 1);
        (await EntriesAsync("t")).Should().HaveCount(2);
    }

    [Test]
    public async Task Publish_takes_a_listener_whose_heartbeat_is_too_old_off_the_listeners_and_the_instances()
    {
        await _db.SortedSetAddAsync(Key("instances"), [new SortedSetEntry("live", long.MaxValue / 2), new SortedSetEntry("dead", 1)]);
        await _db.SetAddAsync(Key("listeners:t"), ["live", "dead"]);
        // ARGV[6] (the oldest heartbeat still alive) is 0 in PublishAsync: make "dead" older than that by giving it -1.
        await _db.SortedSetAddAsync(Key("instances"), "dead", -1);
        await PublishAsync(0, 3600, new Publish("t"));
        (await _db.SetMembersAsync(Key("listeners:t"))).Select(v => (string)v!).Should().Equal("live");
        (await _db.SortedSetScoreAsync(Key("instances"), "dead")).Should().BeNull("a dead listener learns at its next heartbeat that its lease is gone");
    }

    [Test]
    public async Task A_topic_stream_created_anew_records_what_an_expired_one_may_have_held()
    {
        var first = await PublishAsync(0, 1, new Publish("t"), new Publish("t"));
        await _db.KeyDeleteAsync(Key("topic:t")); // expired
        var start = await ServerSecondsAsync();
        await TestApps.UntilAsync(() => ServerSecondsAsync().Result >= start + 2, TimeSpan.FromSeconds(20));
        var again = await PublishAsync(0, 1, new Publish("t"), new Publish("t"));
        var entries = await EntriesAsync("t");
        entries[0]["p"].Should().Be("0");
        long.Parse(entries[0]["h"]).Should().BeGreaterThanOrEqualTo(first[1], "every number the expired stream held is at or below it")
            .And.BeLessThan(again[0]);
        entries[1].Should().NotContainKey("h");
    }

    [Test]
    public async Task A_new_topic_on_a_hub_younger_than_the_retention_records_no_horizon()
    {
        await PublishAsync(0, 3600, new Publish("t"));
        await PublishAsync(0, 3600, new Publish("u"));
        (await EntriesAsync("u")).Single().Should().NotContainKey("h", "no stream of a hub an hour old can have expired");
    }

    [Test]
    public async Task The_horizon_stays_small_whatever_it_saw()
    {
        var now = await ServerSecondsAsync();
        // A day of old buckets (as if publishing went on all along), then a publish in a new bucket folds them into one.
        var old = Enumerable.Range(0, 2000).Select(i => new SortedSetEntry($"{i + 1}:{now - 86400 + i * 40}", now - 86400 + i * 40)).ToArray();
        await _db.SortedSetAddAsync(Key("horizon"), old);
        await _db.StringSetAsync(Key("seq"), 5000);
        await PublishAsync(0, 3600, new Publish("t"));
        var entries = await _db.SortedSetRangeByScoreWithScoresAsync(Key("horizon"));
        entries.Length.Should().BeLessThanOrEqualTo(3 + 3600 / 56, "one entry per 1/64 of the retention, and one for all that is older");
        entries.Where(e => e.Score <= now - 3600).Select(e => long.Parse(((string)e.Element!).Split(':')[0]))
            .Should().ContainSingle().Which.Should().Be(old.Where(e => e.Score <= now - 3600).Max(e => long.Parse(((string)e.Element!).Split(':')[0])));
    }

    // ---- lowwater.lua -----------------------------------------------------------------------------------------------------

    [Test]
    public async Task Low_water_is_the_oldest_entry_s_previous_number()
    {
        await PublishAsync(0, 3600, new Publish("t"), new Publish("u"), new Publish("t"), new Publish("t"));
        (await LowWaterAsync("t", 3600)).Should().Be(0, "nothing of t was trimmed");
        await _db.StreamTrimAsync(Key("topic:t"), 1);
        (await LowWaterAsync("t", 3600)).Should().Be(3, "t's events up to 3 were trimmed away");
    }

    [Test]
    public async Task Low_water_of_a_topic_with_no_stream_is_the_horizon_a_retention_ago()
    {
        await PublishAsync(0, 3600, new Publish("t"));
        (await LowWaterAsync("never", 3600)).Should().Be(0, "the hub is younger than the retention: no stream expired");
        var published = await PublishAsync(0, 1, new Publish("t"), new Publish("t"));
        await _db.KeyDeleteAsync(Key("topic:t"));
        var start = await ServerSecondsAsync();
        await TestApps.UntilAsync(() => ServerSecondsAsync().Result >= start + 2, TimeSpan.FromSeconds(20));
        (await LowWaterAsync("t", 1)).Should().BeGreaterThanOrEqualTo(published[1], "what the expired stream held is gone");
    }

    // ---- listen.lua, count.lua ---------------------------------------------------------------------------------

    private async Task<long[]> ListenAsync(string instance, string batch, params (string Topic, char Change)[] topics)
    {
        List<RedisKey> keys = [Key("instances"), .. EpochKeys, Key("horizon")];
        var values = new List<RedisValue> { instance, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 30, _prefix + "to:" + instance, batch, "PUBLISH",
            "epoch-" + Guid.NewGuid().ToString("N")[..8], 0, "", 3600 };
        foreach (var (topic, change) in topics)
        {
            keys.Add(Key("listeners:" + topic));
            keys.Add(Key("topic:" + topic));
            values.Add(change.ToString());
        }
        var result = (RedisResult[])(await _db.ScriptEvaluateAsync(RedisScripts.Load("listen"), [.. keys], [.. values]))!;
        return [.. result.Select(r => (long)r)];
    }

    [Test]
    public async Task Listen_registers_the_instance_and_its_topics_and_publishes_a_marker_after_them()
    {
        await CheckAsync(0, "");
        await _db.StringSetAsync(Key("seq"), 42);
        await _db.ExecuteAsync("XADD", Key("topic:t"), "40-0", "e", "{}");
        var markers = new List<string>();
        var channel = await _redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(_prefix + "to:i1"));
        channel.OnMessage(m =>
        {
            lock (markers) markers.Add(m.Message!);
        });
        (await ListenAsync("i1", "7", ("t", '+'), ("u", '+'))).Should().Equal([42, 1, 0, 40, 0],
            "its first listen (it was not among the instances); the epoch began at 0; t's stream's newest is 40, u has none (and none expired)");
        (await ListenAsync("i1", "", ("u", '-'))).Should().Equal([42, 0, 0]);
        (await _db.SetContainsAsync(Key("listeners:t"), "i1")).Should().BeTrue();
        (await _db.KeyTimeToLiveAsync(Key("listeners:t"))).Should().NotBeNull("a listener set lives only while refreshed");
        (await _db.SetContainsAsync(Key("listeners:u"), "i1")).Should().BeFalse();
        await TestApps.UntilAsync(() => { lock (markers) return markers.Count > 0; }, TimeSpan.FromSeconds(20));
        lock (markers) markers.Should().Equal("!|7|42");
    }

    [Test]
    public async Task Count_adds_live_instances_keeps_silent_ones_uncounted_and_drops_those_gone()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await _db.SortedSetAddAsync(Key("instances"), [new SortedSetEntry("live", now), new SortedSetEntry("silent", now - 60_000), new SortedSetEntry("me", now)]);
        await _db.HashSetAsync(Key("presence:t"), [new HashEntry("live", 2), new HashEntry("silent", 5), new HashEntry("gone", 7), new HashEntry("me", 100)]);
        var total = (long)await _db.ScriptEvaluateAsync(RedisScripts.Load("count"), [Key("presence:t"), Key("instances")], [now, 15_000, "me", 3]);
        total.Should().Be(5, "its own 3 (given, not the stored 100) and the live instance's 2");
        (await _db.HashKeysAsync(Key("presence:t"))).Select(v => (string)v!).Should().BeEquivalentTo(["live", "silent", "me"], "a silent instance counts again at its next heartbeat; one gone from the instances is dropped");
    }
}
