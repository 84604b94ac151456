using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

/// <summary>Newcomer round 4, item 5: check-then-publish without a hand-written lock — <c>PublishAsync(topic, evt, expectedLastId)</c>.</summary>
public class ConditionalPublishTests
{
    [Test]
    public async Task Publishes_only_while_the_topic_s_last_event_is_the_one_expected()
    {
        var hub = new EventHub(replay: 10);
        (await hub.LastIdAsync("lots/1")).Should().Be(0);

        var first = await hub.PublishAsync("lots/1", new ServerEvent(data: "bid 10"), expectedLastId: 0);
        hub.Publish("lots/2", new ServerEvent(data: "elsewhere"));
        var second = await hub.PublishAsync("lots/1", new ServerEvent(data: "bid 11"), expectedLastId: long.Parse(first.Id!));
        var stale = () => hub.PublishAsync("lots/1", new ServerEvent(data: "bid 11 again"), expectedLastId: long.Parse(first.Id!));

        (await stale.Should().ThrowAsync<PublishConflictException>())
            .Which.ActualLastId.Should().Be(long.Parse(second.Id!));
        (await hub.LastIdAsync("lots/1")).Should().Be(long.Parse(second.Id!), "another topic's events do not move it");
        hub.LastSequence.Should().Be(long.Parse(second.Id!) , "a refused publish takes no number");
    }

    [Test]
    public async Task Racing_check_then_publish_loops_apply_every_bid_once_in_a_chain()
    {
        var hub = new EventHub(replay: 1000);
        var conflicts = 0;
        async Task BidAsync(int bidder)
        {
            while (true)
            {
                var last = await hub.LastIdAsync("lots/7");
                try
                {
                    await hub.PublishAsync("lots/7", new ServerEvent(data: $"{bidder}|{last}"), last);
                    return;
                }
                catch (PublishConflictException)
                {
                    Interlocked.Increment(ref conflicts);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 40).Select(b => Task.Run(() => BidAsync(b))));

        var events = new List<ServerEvent>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in hub.Subscribe(["lots/7"], lastEventId: "0", deadline.Token))
        {
            events.Add(e);
            if (events.Count == 40) break;
        }
        events.Select(e => e.Data!.Split('|')[0]).Should().OnlyHaveUniqueItems().And.HaveCount(40);
        for (var i = 1; i < events.Count; i++)
            events[i].Data!.Split('|')[1].Should().Be(events[i - 1].Id, "each bid was decided on the one before it");
    }

    [Test]
    public async Task A_wrong_call_says_how_to_fix_it()
    {
        var hub = new EventHub();
        var negative = () => hub.PublishAsync("lots/1", new ServerEvent(data: "x"), expectedLastId: -1);
        await negative.Should().ThrowAsync<ArgumentOutOfRangeException>();
        var conflict = new PublishConflictException("lots/1", 3, 5);
        conflict.Message.Should().Contain("retry with expectedLastId: 5");
    }
}
