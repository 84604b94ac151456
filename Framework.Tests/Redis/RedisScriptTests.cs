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

    private sealed record Publish(string Topic, string Payload = "{}", string? IdempotencyKey = null);

    /// <summary>Runs publish.lua as RedisBackplane.Send does: one batch of <paramref name="events"/>.</summary>
    private async Task<long[]> PublishAsync(long floor, long retentionSeconds, params Publish[] events)
    {
        var keys = new List<RedisKey> { Key("seq"), Key("epoch"), Key("instances") };
        var values = new List<RedisValue> { "epoch-1", floor, _prefix + "events", _prefix + "to:", 600, 0, "PUBLISH", events.Length };
        foreach (var e in events)
        {
            var stream = e.Topic.Length == 0 ? Key("stream") : Key("topic:" + e.Topic);
            keys.Add(stream);
            keys.Add(e.Topic.Length == 0 ? stream : Key("listeners:" + e.Topic));
            keys.Add(e.IdempotencyKey is null ? stream : Key("once:" + e.IdempotencyKey));
            values.AddRange([e.Payload, 1000, e.Topic.Length == 0 ? "" : retentionSeconds, e.IdempotencyKey is null ? "" : "1"]);
        }
        keys.Add(Key("horizon"));
        var result = (RedisResult[])(await _db.ScriptEvaluateAsync(RedisScripts.Load("publish"), [.. keys], [.. values]))!;
        return [.. result.Select(r => (long)r)];
    }

    private async Task<Dictionary<string, string>[]> EntriesAsync(string topic) =>
        [.. (await _db.StreamRangeAsync(Key("topic:" + topic))).Select(e => e.Values.ToDictionary(v => (string)v.Name!, v => (string)v.Value!))];

    private async Task<long> ServerSecondsAsync() => long.Parse((string)((RedisResult[])(await _db.ExecuteAsync("TIME"))!)[0]!);

    private async Task<long> LowWaterAsync(string topic, long retentionSeconds) =>
        (long)await _db.ScriptEvaluateAsync(RedisScripts.Load("lowwater"), [Key("topic:" + topic), Key("horizon")], [retentionSeconds]);

    // ---- publish.lua ------------------------------------------------------------------------------------------------------

    [Test]
    public async Task Publish_numbers_after_the_sequence_and_never_at_or_below_the_floor()
    {
        (await PublishAsync(0, 3600, new Publish("a"), new Publish("b"))).Should().Equal(1, 2);
        await _db.StringSetAsync(Key("seq"), 1); // a restore from an older snapshot
        (await PublishAsync(2, 3600, new Publish("a"))).Should().Equal([3], "2 was returned to this publisher: never given again");
        (await PublishAsync(10, 3600, new Publish("a"))).Should().Equal([11], "numbers go above the floor");
        ((long)await _db.StringGetAsync(Key("seq"))).Should().Be(11);
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

    // ---- listen.lua, floor.lua, count.lua ---------------------------------------------------------------------------------

    private async Task<long[]> ListenAsync(string instance, string batch, params (string Topic, char Change)[] topics)
    {
        var keys = new List<RedisKey> { Key("instances"), Key("seq") };
        var values = new List<RedisValue> { instance, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 30, _prefix + "to:" + instance, batch, "PUBLISH" };
        foreach (var (topic, change) in topics)
        {
            keys.Add(Key("listeners:" + topic));
            values.Add(change.ToString());
        }
        var result = (RedisResult[])(await _db.ScriptEvaluateAsync(RedisScripts.Load("listen"), [.. keys], [.. values]))!;
        return [.. result.Select(r => (long)r)];
    }

    [Test]
    public async Task Listen_registers_the_instance_and_its_topics_and_publishes_a_marker_after_them()
    {
        await _db.StringSetAsync(Key("seq"), 42);
        var markers = new List<string>();
        var channel = await _redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(_prefix + "to:i1"));
        channel.OnMessage(m =>
        {
            lock (markers) markers.Add(m.Message!);
        });
        (await ListenAsync("i1", "7", ("t", '+'), ("u", '+'))).Should().Equal([42, 1], "its first listen: it was not among the instances");
        (await ListenAsync("i1", "", ("u", '-'))).Should().Equal([42, 0]);
        (await _db.SetContainsAsync(Key("listeners:t"), "i1")).Should().BeTrue();
        (await _db.KeyTimeToLiveAsync(Key("listeners:t"))).Should().NotBeNull("a listener set lives only while refreshed");
        (await _db.SetContainsAsync(Key("listeners:u"), "i1")).Should().BeFalse();
        await TestApps.UntilAsync(() => { lock (markers) return markers.Count > 0; }, TimeSpan.FromSeconds(20));
        lock (markers) markers.Should().Equal("!|7|42");
    }

    [Test]
    public async Task Floor_raises_a_sequence_found_behind_it_and_returns_what_it_found()
    {
        await _db.StringSetAsync(Key("seq"), 5);
        ((long)await _db.ScriptEvaluateAsync(RedisScripts.Load("floor"), [Key("seq")], [9])).Should().Be(5);
        ((long)await _db.StringGetAsync(Key("seq"))).Should().Be(9);
        ((long)await _db.ScriptEvaluateAsync(RedisScripts.Load("floor"), [Key("seq")], [3])).Should().Be(9, "never lowered");
        ((long)await _db.StringGetAsync(Key("seq"))).Should().Be(9);
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
