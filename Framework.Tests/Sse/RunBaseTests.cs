using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Bocata.Testing;
using Bocata.Tests.Testing;
using CsCheck;
using FluentAssertions;
using NUnit.Framework;
using static Bocata.Tests.Sse.HubCorrectnessTests;

namespace Bocata.Tests.Sse;

/// <summary>
/// Restart-safe numbers for the in-memory hub (API.md "Restarts and deploys lose nothing", issue 35 item 1): a hub numbers
/// from its run's base, above every id an earlier run gave, so a client that comes back after a restart with an id of the
/// earlier run is told (`resync`) and gets everything the new run retains — never a silent live start, never a silent skip
/// of the new run's first events. A restart here is a new App and a new EventHub on a fresh port (and once a real process).
/// </summary>
public class RunBaseTests
{
    private static App FeedApp(EventHub hub)
    {
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, req.QueryParams.GetAll("topic").ToArray())));
        return app;
    }

    /// <summary>The first <paramref name="count"/> events of a stream opened with <paramref name="lastEventId"/>; then, when
    /// <paramref name="publishLive"/> is given, it publishes once the stream is open and reads one more.</summary>
    private static async Task<List<ServerEvent>> ReadAsync(TestClient client, string path, string lastEventId, int count, Action? publishLive = null)
    {
        await using var stream = await client.OpenEventsAsync(path, lastEventId);
        var events = new List<ServerEvent>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var total = count + (publishLive is null ? 0 : 1);
        await foreach (var e in stream.WithCancellation(timeout.Token))
        {
            events.Add(e);
            if (events.Count == count) publishLive?.Invoke();
            if (events.Count == total) break;
        }
        return events;
    }

    /// <summary>A first run: publishes <paramref name="count"/> events and a client reads them all; returns their ids.</summary>
    private static async Task<List<string>> FirstRunAsync(string path, int count, Func<EventHub, int, ServerEvent> publish)
    {
        var hub = new EventHub(replay: 100);
        await using var client = FeedApp(hub).CreateClient();
        for (var i = 1; i <= count; i++) publish(hub, i);
        var read = await ReadAsync(client, path, "0", count);
        read.Should().OnlyContain(e => e.Name != "resync");
        return [.. read.Select(e => e.Id!)];
    }

    private static long Number(string? id) => long.Parse(id!, CultureInfo.InvariantCulture);

    private static void ShouldBeResyncFrom(ServerEvent notice, string lastEventId)
    {
        notice.Name.Should().Be("resync", "an id of an earlier run is never taken for one of this run's numbers");
        notice.Id.Should().BeNull();
        var data = JsonDocument.Parse(notice.Data!).RootElement;
        data.GetProperty("lastEventId").GetString().Should().Be(lastEventId);
        data.GetProperty("reason").GetString().Should().Contain("earlier run");
    }

    [Test]
    public async Task After_a_restart_a_client_ahead_of_the_new_process_is_told_and_gets_what_it_published()
    {
        // The client read 1-7 from the first process.
        var seen = await FirstRunAsync("/feed", 7, (hub, i) => hub.Publish(new ServerEvent(data: $"old {i}")));

        // A deploy: the new process publishes three events before the client is back with the id of its 7th.
        var second = new EventHub(replay: 100);
        await using var after = FeedApp(second).CreateClient();
        var published = Enumerable.Range(1, 3).Select(i => second.Publish(new ServerEvent(data: $"new {i}"))).ToList();
        var resumed = await ReadAsync(after, "/feed", seen[^1], 4, () => second.Publish(new ServerEvent(data: "live")));

        ShouldBeResyncFrom(resumed[0], seen[^1]);
        resumed.Skip(1).Select(e => e.Data).Should().Equal(["new 1", "new 2", "new 3", "live"], "everything the new process retains, then live");
        Number(published[0].Id).Should().BeGreaterThan(Number(seen[^1]), "a later run numbers above an earlier one");
    }

    [Test]
    public async Task After_a_restart_that_published_past_the_clients_id_the_client_is_told_and_skips_nothing()
    {
        // Before restart-safe numbers the new process's 8th event followed "7": the client silently lost new 1-7.
        var seen = await FirstRunAsync("/feed", 7, (hub, i) => hub.Publish(new ServerEvent(data: $"old {i}")));

        var second = new EventHub(replay: 100);
        await using var after = FeedApp(second).CreateClient();
        for (var i = 1; i <= 10; i++) second.Publish(new ServerEvent(data: $"new {i}"));
        var resumed = await ReadAsync(after, "/feed", seen[^1], 11, () => second.Publish(new ServerEvent(data: "live")));

        ShouldBeResyncFrom(resumed[0], seen[^1]);
        resumed.Skip(1).Select(e => e.Data).Should().Equal(Enumerable.Range(1, 10).Select(i => $"new {i}").Append("live"), "nothing of the new run is skipped");
        var seenLast = Number(seen[^1]);
        resumed.Skip(1).Select(e => Number(e.Id)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems().And.OnlyContain(n => n > seenLast);

        // Reconnecting again with an id of this run is exact: no notice.
        var again = await ReadAsync(after, "/feed", resumed[5].Id!, 6);
        again.Select(e => e.Data).Should().Equal("new 6", "new 7", "new 8", "new 9", "new 10", "live");
    }

    [Test]
    public async Task The_run_is_every_topics_epoch_a_multi_topic_stream_resumed_after_a_restart_is_told_and_gets_every_topic()
    {
        string[] topics = ["rooms/1", "users/ana"];
        var seen = await FirstRunAsync("/events?topic=rooms/1&topic=users/ana", 6, (hub, i) => hub.Publish(topics[i % 2], new ServerEvent(data: $"old {i}")));

        var second = new EventHub(replay: 100);
        await using var after = FeedApp(second).CreateClient();
        for (var i = 1; i <= 10; i++) second.Publish(topics[i % 2], new ServerEvent(data: $"new {i}"));
        second.Publish("rooms/2", new ServerEvent(data: "not this stream's"));
        var resumed = await ReadAsync(after, "/events?topic=rooms/1&topic=users/ana", seen[^1], 11, () => second.Publish("users/ana", new ServerEvent(data: "live")));

        ShouldBeResyncFrom(resumed[0], seen[^1]);
        resumed.Skip(1).Select(e => e.Data).Should().Equal(Enumerable.Range(1, 10).Select(i => $"new {i}").Append("live"), "every topic's events of the new run, merged in order");
        // Each topic alone, too: its own stream is told the same.
        var room = await ReadAsync(after, "/events?topic=rooms/1", seen[^1], 6);
        ShouldBeResyncFrom(room[0], seen[^1]);
        room.Skip(1).Select(e => e.Data).Should().Equal("new 2", "new 4", "new 6", "new 8", "new 10");
    }

    [Test]
    public async Task A_restarted_process_tells_a_client_of_the_earlier_one_and_gives_it_every_new_message()
    {
        // A real process (Examples/ChatFeed) killed as a crash or a deploy would, and started again.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string lastId;
        await using (var first = await ExampleProcess.StartAsync("ChatFeed"))
        {
            for (var i = 1; i <= 7; i++) (await http.PostAsJsonAsync(first.Url + "/messages", new { author = "ana", text = $"old {i}" }, cts.Token)).EnsureSuccessStatusCode();
            var read = await ReadMessagesAsync(http, first.Url, "0", 7, cts.Token);
            read.Select(e => e.Data).Should().Equal(Enumerable.Range(1, 7).Select(i => $$"""{"author":"ana","text":"old {{i}}"}"""));
            lastId = read[^1].EventId!;
            await first.KillAsync();
        }

        await using var second = await ExampleProcess.StartAsync("ChatFeed");
        for (var i = 1; i <= 10; i++) (await http.PostAsJsonAsync(second.Url + "/messages", new { author = "bo", text = $"new {i}" }, cts.Token)).EnsureSuccessStatusCode();
        var resumed = await ReadMessagesAsync(http, second.Url, lastId, 11, cts.Token);

        resumed[0].EventType.Should().Be("resync");
        JsonDocument.Parse(resumed[0].Data).RootElement.GetProperty("lastEventId").GetString().Should().Be(lastId);
        resumed.Skip(1).Select(e => e.Data).Should().Equal(Enumerable.Range(1, 10).Select(i => $$"""{"author":"bo","text":"new {{i}}"}"""), "every message of the new process, none skipped");
        resumed.Skip(1).Should().OnlyContain(e => Number(e.EventId) > Number(lastId));
    }

    private static async Task<List<System.Net.ServerSentEvents.SseItem<string>>> ReadMessagesAsync(HttpClient http, string url, string lastEventId, int count, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url + "/messages");
        request.Headers.Add("Last-Event-ID", lastEventId);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var items = new List<System.Net.ServerSentEvents.SseItem<string>>();
        await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(body).EnumerateAsync(ct))
        {
            items.Add(item);
            if (items.Count == count) break;
        }
        return items;
    }

    [Test]
    public void Ids_are_strictly_increasing_integers_from_the_run_base_above_the_clock_and_safe_in_JavaScript()
    {
        var before = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;
        var hub = new EventHub();
        var runBase = hub.LastSequence;
        runBase.Should().BeGreaterThanOrEqualTo(before, "the base is the Unix time in microseconds (or higher)");
        var ids = Enumerable.Range(0, 1000).Select(i => Number(hub.Publish(i % 2 == 0 ? "a" : "b", new ServerEvent(data: "x")).Id)).ToList();
        ids.Should().Equal(Enumerable.Range(1, 1000).Select(i => runBase + i), "one after another from the base, across topics");
        hub.LastSequence.Should().Be(runBase + 1000);
        ids[^1].Should().BeLessThan(1L << 53, "exact as a JavaScript number");
    }

    [Test]
    public void Two_hubs_in_one_process_never_overlap_and_an_id_of_the_first_is_never_taken_by_the_second()
    {
        // The first publishes far faster than one a microsecond: its numbers run ahead of the clock, and the second still
        // starts above them (the process-wide high-water mark).
        var first = new EventHub(replay: 10);
        var last = "";
        for (var i = 0; i < 50_000; i++) last = first.Publish(new ServerEvent(data: "x")).Id!;
        var second = new EventHub(replay: 100);
        second.LastSequence.Should().BeGreaterThanOrEqualTo(first.LastSequence);
        var published = Enumerable.Range(1, 5).Select(i => second.Publish(new ServerEvent(data: $"s{i}"))).ToList();
        Number(published[0].Id).Should().BeGreaterThan(Number(last));

        var got = Available(second.Subscribe(lastEventId: last));
        ShouldBeResyncFrom(got[0], last);
        got.Skip(1).Select(e => e.Data).Should().Equal("s1", "s2", "s3", "s4", "s5");
        Available(second.Subscribe(lastEventId: "0")).Select(e => e.Data).Should().Equal(["s1", "s2", "s3", "s4", "s5"], "0 asks for everything retained, without a notice");
        Available(second.Subscribe(lastEventId: second.LastSequence.ToString(CultureInfo.InvariantCulture))).Should().BeEmpty("its own last number: exact");
    }

    [Test]
    public void Across_random_restarts_a_client_never_misses_a_retained_event_never_gets_one_twice_and_is_told_exactly_when_its_id_is_from_an_earlier_run()
    {
        // Steps: publish a burst to the default topic or to topic a or b; restart (a new hub: a new run); one of two clients
        // (the default topic; topics a + b on one stream) resumes with the last id it got and takes what is available.
        // Model: per topic the current run keeps its last `replay` events. A resume with an id of the current run gets, per
        // topic, the retained events after it (told first when the topic may have dropped one after it); with an id of an earlier
        // run, `resync` then everything retained; with 0, everything retained and no notice. Ids are unique across runs.
        Gen.Select(Gen.OneOf(Gen.Const(1000), Gen.Int[1, 8]), Gen.Select(Gen.Int[0, 9], Gen.Int[0, 12], Gen.Int[0, 2]).Array[1, 40])
            .Sample((replay, steps) =>
            {
                string[] topicOf = ["", "a", "b"];
                var hub = new EventHub(replay: replay);
                var run = new List<(string Topic, long Seq, string Data)>();
                var earlierIds = new HashSet<string>();
                var counter = 0;
                var clients = new[] { (Topics: new[] { "" }, Last: "0", Got: new List<string>()), (Topics: new[] { "a", "b" }, Last: "0", Got: new List<string>()) };
                var trace = new List<string>();
                foreach (var (kind, amount, which) in steps)
                {
                    if (kind <= 4)
                    {
                        var topic = topicOf[which];
                        for (var i = 0; i < amount; i++)
                        {
                            var data = $"e{counter++}";
                            var e = topic.Length == 0 ? hub.Publish(new ServerEvent(data: data)) : hub.Publish(topic, new ServerEvent(data: data));
                            run.Add((topic, Number(e.Id), data));
                        }
                        trace.Add($"publish {amount} to '{topic}'");
                        continue;
                    }
                    if (kind <= 6)
                    {
                        foreach (var e in run) earlierIds.Add(e.Seq.ToString(CultureInfo.InvariantCulture));
                        run.Clear();
                        hub = new EventHub(replay: replay);
                        trace.Add("restart");
                        continue;
                    }
                    ref var client = ref clients[which % 2];
                    var topics = client.Topics;
                    var windows = topics.ToDictionary(t => t, t => run.Where(e => e.Topic == t).ToList());
                    var fromEarlierRun = earlierIds.Contains(client.Last);
                    var after = client.Last == "0" || fromEarlierRun ? 0 : Number(client.Last);
                    var expected = windows.Values.SelectMany(w => w.TakeLast(replay)).Where(e => e.Seq > after).OrderBy(e => e.Seq).Select(e => e.Data).ToList();
                    // A topic that dropped events vouches only for what follows the number before its window's first (as
                    // TopicTests' model): a resume from before that is told.
                    var exact = client.Last == "0" || !fromEarlierRun && windows.Values.All(w => w.Count <= replay || w[^replay].Seq - 1 <= after);
                    var got = Available(topics[0].Length == 0 ? hub.Subscribe(lastEventId: client.Last) : hub.Subscribe(topics, lastEventId: client.Last));
                    trace.Add($"client {which % 2} resumes from {client.Last}{(fromEarlierRun ? " (earlier run)" : "")}");
                    var because = $"replay {replay}: {string.Join("; ", trace)}";

                    got.Select(e => e.Name ?? e.Data).Should().Equal((exact ? [] : new[] { "resync" }).Concat(expected), because);
                    if (fromEarlierRun) ShouldBeResyncFrom(got[0], client.Last);
                    var events = got.Where(e => e.Name != "resync").ToList();
                    client.Got.AddRange(events.Select(e => e.Id!));
                    client.Got.Should().OnlyHaveUniqueItems("no event reaches a client twice, across runs: " + because);
                    if (events.Count > 0) client.Last = events[^1].Id!;
                }
            }, iter: 1000);
    }
}
