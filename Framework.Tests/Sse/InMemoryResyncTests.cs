using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;
using static Bocata.Tests.Sse.HubCorrectnessTests;

namespace Bocata.Tests.Sse;

/// <summary>
/// "Resync is visible" on one instance (API.md; issue 32's in-memory side, issue 35's first scenario): an in-memory hub that
/// cannot resume exactly says so first, then gives everything it retains — it never starts a client live silently.
/// </summary>
public class InMemoryResyncTests
{
    private static App FeedApp(EventHub hub)
    {
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, req.QueryParams.GetAll("topic").ToArray())));
        return app;
    }

    private static async Task<List<ServerEvent>> ReadAsync(TestClient client, string path, string lastEventId, int count)
    {
        await using var stream = await client.OpenEventsAsync(path, lastEventId);
        var events = new List<ServerEvent>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var e in stream.WithCancellation(timeout.Token))
        {
            events.Add(e);
            if (events.Count == count) break;
        }
        return events;
    }

    [Test]
    public async Task After_a_restart_a_client_ahead_of_the_new_process_is_told_and_gets_what_it_published()
    {
        // The client read 1-7 from the first process.
        var first = new EventHub(replay: 100);
        await using (var before = FeedApp(first).CreateClient())
        {
            for (var i = 1; i <= 7; i++) first.Publish(new ServerEvent(data: $"old {i}"));
            (await ReadAsync(before, "/feed", "0", 7)).Select(e => e.Id).Should().Equal("1", "2", "3", "4", "5", "6", "7");
        }

        // A deploy: the new process publishes three events before the client is back with Last-Event-ID: 7.
        var second = new EventHub(replay: 100);
        await using var after = FeedApp(second).CreateClient();
        for (var i = 1; i <= 3; i++) second.Publish(new ServerEvent(data: $"new {i}"));
        var resumed = await ReadAsync(after, "/feed", "7", 4);
        resumed[0].Name.Should().Be("resync", "7 is not a number this process gave: never a silent live start");
        resumed.Skip(1).Select(e => e.Data).Should().Equal(["new 1", "new 2", "new 3"], "everything the new process retains");
    }

    [Test]
    public async Task A_topic_forgotten_with_its_events_and_named_again_tells_a_client_that_resumes_from_before()
    {
        var hub = new EventHub(replay: 100) { TopicRetention = TimeSpan.FromMilliseconds(200) };
        await using var client = FeedApp(hub).CreateClient();
        var seen = hub.Publish("rooms/1", new ServerEvent(data: "seen"));
        hub.Publish("rooms/1", new ServerEvent(data: "missed"));
        await TestApps.UntilAsync(() => hub.TopicCount == 0, TimeSpan.FromSeconds(20));
        var again = hub.Publish("rooms/1", new ServerEvent(data: "again"));

        var resumed = await ReadAsync(client, "/events?topic=rooms/1", seen.Id!, 2);
        resumed[0].Name.Should().Be("resync", "'missed' went with the forgotten topic");
        resumed[1].Id.Should().Be(again.Id);
        Available(hub.Subscribe(["rooms/1"], lastEventId: again.Id)).Should().BeEmpty("a resume after the new event is exact");
    }

    [Test]
    public void Events_MaxBytes_dropped_are_said_to_be_missing()
    {
        var hub = new EventHub(replay: 1000) { MaxBytes = 4096 };
        var sent = Enumerable.Range(1, 100).Select(i => hub.Publish("rooms/1", new ServerEvent(data: new string('x', 200)))).ToList();
        var got = Available(hub.Subscribe(["rooms/1"], lastEventId: sent[0].Id));
        got[0].Name.Should().Be("resync", "most of what followed was dropped to stay within MaxBytes");
        got.Skip(1).Select(e => e.Id).Should().Equal(sent.TakeLast(got.Count - 1).Select(e => e.Id), "then what is still held, in order");
        Available(hub.Subscribe(["rooms/1"], lastEventId: sent[^2].Id)).Select(e => e.Id).Should().Equal([sent[^1].Id], "a resume within what is held is exact");
    }
}
