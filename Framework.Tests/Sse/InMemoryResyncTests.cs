using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;
using static Bocata.Tests.Sse.HubCorrectnessTests;

namespace Bocata.Tests.Sse;

/// <summary>
/// "Resync is visible" on one instance (API.md; issue 32's in-memory side): an in-memory hub that cannot resume exactly says
/// so first, then gives everything it retains — it never starts a client live silently. Restarts: RunBaseTests.
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
