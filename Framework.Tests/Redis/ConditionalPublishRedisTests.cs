using Bocata.Redis;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>Check-then-publish across instances: the comparison runs in the publish script, so two instances racing on one
/// topic never both win (newcomer round 4, item 5: it took a hand-written Redis lock before).</summary>
public class ConditionalPublishRedisTests
{
    [Test]
    public async Task Bidders_on_two_instances_apply_every_bid_once_each_decided_on_the_one_before()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        await using var a = await RedisBackplane.ConnectAsync(redis.Endpoint, topic);
        await using var b = await RedisBackplane.ConnectAsync(redis.Endpoint, topic);
        var hubs = new[] { new EventHub(replay: 1000, backplane: a), new EventHub(replay: 1000, backplane: b) };
        var conflicts = 0;
        async Task BidAsync(EventHub hub, int bidder)
        {
            while (true)
            {
                var last = await hub.LastIdAsync("lots/7");
                try
                {
                    await hub.PublishAsync("lots/7", new ServerEvent(data: $"{bidder}|{last}"), last);
                    return;
                }
                catch (PublishConflictException e)
                {
                    e.ActualLastId.Should().BeGreaterThan(last);
                    Interlocked.Increment(ref conflicts);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 30).Select(n => Task.Run(() => BidAsync(hubs[n % 2], n))));

        var events = new List<ServerEvent>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in hubs[0].Subscribe(["lots/7"], lastEventId: "0", deadline.Token))
        {
            events.Add(e);
            if (events.Count == 30) break;
        }
        events.Select(e => e.Data!.Split('|')[0]).Should().OnlyHaveUniqueItems().And.HaveCount(30);
        events[0].Data!.Split('|')[1].Should().Be("0");
        for (var i = 1; i < events.Count; i++)
            events[i].Data!.Split('|')[1].Should().Be(events[i - 1].Id, "each bid was decided on the one before it, on either instance");
        (await hubs[1].LastIdAsync("lots/7")).Should().Be(long.Parse(events[^1].Id!));
        conflicts.Should().BeGreaterThan(0, "30 racing bidders on two instances conflict at least once");
    }
}
