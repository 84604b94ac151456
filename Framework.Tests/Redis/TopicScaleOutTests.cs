using Bocata.Redis;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>Topics on a hub shared through Redis: a topic published on any instance reaches that topic's streams on every
/// instance, one sequence numbers every topic, and the default topic stays apart.</summary>
[NonParallelizable]
public class TopicScaleOutTests : RedisHubTests
{
    [Test]
    public async Task A_topic_published_on_one_instance_reaches_its_streams_on_every_instance_and_nothing_else()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var options = new HubOptions { Replay = 100 };
        var a = await Hubs.InstanceAsync(redis.Endpoint, name, options);
        var b = await Hubs.InstanceAsync(redis.Endpoint, name, options);

        // Open: its headers come once B listens to both topics on Redis, and a stream is live from then on (publishing before
        // that raced B's listening, lost whenever B's pub/sub connection came up late, as on a busy CI machine).
        await using var streamOnB = await b.Client.OpenEventsAsync("/events?topic=users/42&topic=rooms/7");
        var onB = TestApps.TakeAsync(streamOnB, 3, TimeSpan.FromSeconds(20));
        var defaultOnB = b.Hub.Subscribe();
        await TestApps.UntilAsync(() => b.Hub.CountSubscribers("rooms/7") == 1);
        var ids = new List<string?>
        {
            (await a.Hub.PublishAsync("users/42", new ServerEvent(data: "n1"))).Id,
            (await a.Hub.PublishAsync("rooms/8", new ServerEvent(data: "not mine"))).Id,
            (await b.Hub.PublishAsync("rooms/7", new ServerEvent(data: "m1"))).Id,
            (await a.Hub.PublishAsync(new ServerEvent(data: "default"))).Id,
            (await a.Hub.PublishAsync("users/42", new ServerEvent(data: "n2"))).Id,
        };

        ids.Select(id => long.Parse(id!)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems("one sequence for every topic of the hub, across instances");
        var events = await onB;
        events.Select(e => e.Data).Should().Equal("n1", "m1", "n2");
        events.Select(e => e.Id).Should().Equal(ids[0], ids[2], ids[4]);
        (await TestApps.TakeAsync(defaultOnB, 1)).Select(e => e.Data).Should().Equal("default");

        // The same stream resumes on the other instance with one id.
        var resumed = await TestApps.TakeAsync(a.Client.EventsAsync("/events?topic=users/42&topic=rooms/7", lastEventId: ids[0]), 2);
        resumed.Select(e => e.Data).Should().Equal("m1", "n2");
    }

    [Test]
    public async Task CountSubscribersAsync_counts_every_instance_and_a_dead_instance_stops_counting()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var backplanes = new List<RedisBackplane>();
        async Task<EventHub> HubAsync()
        {
            // Every setting at its default (made as an app makes it), no app: hubs subscribed to directly.
            var instance = await Hubs.InstanceAsync(redis.Endpoint, name, new HubOptions { Serve = false });
            backplanes.Add(instance.Backplane);
            return instance.Hub;
        }
        var a = await HubAsync();
        var b = await HubAsync();
        using var cts = new CancellationTokenSource();
        _ = a.Subscribe(["rooms/7"], ct: cts.Token);
        _ = a.Subscribe(["rooms/7", "users/1"], ct: cts.Token);
        using var bOnly = new CancellationTokenSource();
        _ = b.Subscribe(["rooms/7"], ct: bOnly.Token);

        await TestApps.UntilAsync(async () => await a.CountSubscribersAsync("rooms/7") == 3 && await b.CountSubscribersAsync("rooms/7") == 3);
        (await a.CountSubscribersAsync("rooms/7")).Should().Be(3, "two here, one on the other instance");
        (await b.CountSubscribersAsync("users/1")).Should().Be(1);
        a.CountSubscribers("rooms/7").Should().Be(2, "this instance's only");

        await bOnly.CancelAsync();
        await TestApps.UntilAsync(async () => await a.CountSubscribersAsync("rooms/7") == 2);
        (await a.CountSubscribersAsync("rooms/7")).Should().Be(2);

        // Instance A dies without a word: its share stops counting within its TTL (5 s by default) plus a heartbeat.
        backplanes[0].PresenceTtl.Should().Be(TimeSpan.FromSeconds(5), "presence is correct within 5 s of a change by default");
        backplanes[0].SuspendHeartbeat();
        var died = DateTime.UtcNow;
        await TestApps.UntilAsync(async () => await b.CountSubscribersAsync("rooms/7") == 0, TimeSpan.FromSeconds(20));
        (await b.CountSubscribersAsync("rooms/7")).Should().Be(0);
        TestContext.Out.WriteLine($"a dead instance's subscribers stopped counting after {(DateTime.UtcNow - died).TotalSeconds:0.0} s");
        await cts.CancelAsync();
    }
}
