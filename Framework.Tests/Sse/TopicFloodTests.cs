using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;
using static Bocata.Tests.Sse.HubCorrectnessTests;

namespace Bocata.Tests.Sse;

/// <summary>
/// Security round 4, finding 1 (High): any client made the server hold memory for the topic retention by naming new topics —
/// keep-alive HEAD requests naming 64 random topics each held 1.2 GB after 15 s. Topic creation is bounded by construction: a
/// subscription that read nothing leaves nothing behind, HEAD subscribes to nothing, the table is capped (MaxTopics, and its
/// bytes count in MaxBytes) with the longest-idle topic going first, and a full table of live topics is a clear 503.
/// </summary>
public class TopicFloodTests
{
    private static App FloodApp(EventHub hub)
    {
        var app = TestApps.Quiet();
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, req.QueryParams.GetAll("topic").ToArray())));
        return app;
    }

    private static string Topics(int count) =>
        string.Join("&", Enumerable.Range(0, count).Select(_ => "topic=rooms/" + Guid.NewGuid().ToString("N")));

    [Test]
    public async Task HEAD_of_an_event_stream_answers_its_headers_and_subscribes_to_nothing()
    {
        var hub = new EventHub();
        await using var client = FloodApp(hub).CreateClient();
        for (var i = 0; i < 50; i++)
        {
            using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/events?" + Topics(64)));
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        }
        hub.TopicCount.Should().Be(0, "3,200 topics named by HEAD requests: none is created");
        hub.SubscriberCount.Should().Be(0);
        hub.IdleQueued.Should().Be(0);
    }

    [Test]
    public async Task HEAD_is_checked_like_GET()
    {
        var hub = new EventHub { Authorize = (_, topic) => topic.StartsWith("rooms/", StringComparison.Ordinal) };
        await using var client = FloodApp(hub).CreateClient();
        using var refused = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/events?topic=users/1"));
        refused.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        using var invalid = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/events?topic=" + new string('x', 300)));
        invalid.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task Streams_that_read_nothing_leave_no_topic_behind_when_they_end()
    {
        var hub = new EventHub();
        await using var client = FloodApp(hub).CreateClient();
        for (var i = 0; i < 20; i++)
        {
            await using var stream = await client.OpenEventsAsync("/events?" + Topics(64));
        }
        await TestApps.UntilAsync(() => hub.SubscriberCount == 0, TimeSpan.FromSeconds(20));
        hub.TopicCount.Should().Be(0, "1,280 topics that nothing was published to go with their last subscriber");
        hub.IdleQueued.Should().Be(0, "and nothing of them waits for the retention sweep");
    }

    [Test]
    public void A_topic_with_events_stays_for_the_retention_after_its_last_subscriber_leaves()
    {
        var hub = new EventHub(replay: 10);
        var keeps = hub.Subscribe(["rooms/1"]);
        var published = hub.Publish("rooms/1", new ServerEvent(data: "kept"));
        var empty = hub.Subscribe(["rooms/2"]);
        ((IDisposable)keeps).Dispose();
        ((IDisposable)empty).Dispose();

        hub.TopicCount.Should().Be(1, "rooms/1 holds an event a client may resume; rooms/2 held nothing");
        Available(hub.Subscribe(["rooms/1"], lastEventId: "0").GetAsyncEnumerator()).Select(e => e.Id).Should().Equal(published.Id);
    }

    [Test]
    public void Topics_that_come_and_go_by_the_hundred_thousand_leave_the_sweep_queue_small()
    {
        var hub = new EventHub();
        for (var i = 0; i < 100_000; i++)
        {
            // Subscribed to and left with nothing read: neither the topic nor a sweep-queue entry of it may stay.
            var s = hub.Subscribe([$"rooms/{i}"]);
            ((IDisposable)s).Dispose();
        }
        hub.TopicCount.Should().Be(0);
        hub.IdleQueued.Should().Be(0);
    }

    [Test]
    public void A_full_table_forgets_the_topic_idle_the_longest_first()
    {
        var hub = new EventHub(replay: 10) { MaxTopics = 100 };
        var first = hub.Publish("rooms/0", new ServerEvent(data: "oldest"));
        for (var i = 1; i < 1000; i++) hub.Publish($"rooms/{i}", new ServerEvent(data: $"e{i}"));

        hub.TopicCount.Should().Be(100);
        hub.CountSubscribers("rooms/0").Should().Be(0);
        Available(hub.Subscribe(["rooms/999"], lastEventId: "0").GetAsyncEnumerator()).Select(e => e.Data).Should().Equal("e999");
        Available(hub.Subscribe(["rooms/0"], lastEventId: "0").GetAsyncEnumerator()).Select(e => e.Id).Should().NotContain(first.Id, "rooms/0 was idle the longest: it went first");
        hub.RetainedBytes.Should().BeLessThan(200 * 1024, "what the forgotten topics held went with them");
    }

    [Test]
    public async Task A_full_table_of_live_topics_refuses_a_new_one_with_503_and_publishing_to_one_with_an_exception()
    {
        var hub = new EventHub { MaxTopics = 3 };
        await using var client = FloodApp(hub).CreateClient();
        await using var live = await client.OpenEventsAsync("/events?topic=a&topic=b&topic=c");

        using var refused = await client.GetAsync("/events?topic=d");
        refused.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await refused.Content.ReadAsStringAsync()).Should().Contain("topics");
        var publish = () => hub.Publish("d", new ServerEvent(data: "x"));
        publish.Should().Throw<ArgumentException>().WithMessage("*MaxTopics*");
        hub.Publish("a", new ServerEvent(data: "fine")).Id.Should().NotBeNull("an existing topic is always there");
        hub.TopicCount.Should().Be(3);
    }

    [Test]
    public void Topics_count_in_MaxBytes()
    {
        var hub = new EventHub { MaxBytes = 100 * 1024 };
        for (var i = 0; i < 10_000; i++) hub.Publish($"rooms/{i}", new ServerEvent(data: "x"));
        hub.TopicCount.Should().BeLessThan(200, "each topic costs about half a kilobyte of the 100 KB budget");
        hub.TopicCount.Should().BeGreaterThan(50);
    }

    [Test]
    public async Task No_topic_on_a_hub_that_authorizes_topics_is_a_400_not_the_default_topic_unchecked()
    {
        var hub = new EventHub { Authorize = (_, topic) => topic == "rooms/1" };
        await using var client = FloodApp(hub).CreateClient();
        using var response = await client.GetAsync("/events");
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).Should().Contain("at least one topic");
    }

    [Test]
    public async Task The_retention_sweep_forgets_a_mass_expiry_in_slices_so_no_publish_waits_for_all_of_it()
    {
        // Security round 4, finding 7: the sweep of 3.1 M expired topics stalled every publish ~1 s (all under the hub's lock).
        // Load-proof: nothing is timed; what one publish sweeps is compared with what was held just before it (a slow machine may
        // have swept some during the publishing loop already, as topics expired while it ran).
        // (A retention of a second: the loop, well under it even on a busy machine, sweeps nothing itself.)
        var hub = new EventHub(replay: 4) { TopicRetention = TimeSpan.FromSeconds(1), MaxTopics = 1_000_000, MaxBytes = 1L << 30 };
        for (var i = 0; i < 20_000; i++) hub.Publish($"rooms/{i}", new ServerEvent(data: "x"));
        var published = Environment.TickCount64;
        await TestApps.UntilAsync(() => Environment.TickCount64 - published > 1300, TimeSpan.FromSeconds(20));

        var before = hub.TopicsHeld;
        before.Should().BeGreaterThan(4096 + 1, "precondition: more expired topics than one slice");
        hub.Publish("rooms/live", new ServerEvent(data: "now"));
        var after = hub.TopicsHeld;
        after.Should().BeLessThan(before, "a publish sweeps").And.BeGreaterThanOrEqualTo(before + 1 - 4096, "one slice at most: no publish waits for the whole sweep");
        // The next publishes sweep the rest (at most every 1/8 of the retention).
        await TestApps.UntilAsync(() =>
        {
            hub.Publish("rooms/live", new ServerEvent(data: "now"));
            return hub.TopicsHeld == 1;
        }, TimeSpan.FromSeconds(20));
        hub.TopicsHeld.Should().Be(1, "the next publishes sweep the rest");
        hub.TopicCount.Should().Be(1);
        hub.RetainedBytes.Should().BeLessThan(10_000, "what the forgotten topics held went with them");
    }
}
