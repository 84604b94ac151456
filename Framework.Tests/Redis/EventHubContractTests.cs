using Bocata.Redis;
using Bocata.Sqlite;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>One contract for EventHub, run on the in-memory hub, the Redis backplane and the SQLite event file.</summary>
[TestFixture("memory")]
[TestFixture("redis")]
[TestFixture("sqlite")]
[NonParallelizable]
public class EventHubContractTests(string backplane)
{
    private readonly List<IAsyncDisposable> _owned = [];

    private async Task<EventHub> NewHubAsync(int replay = 100, string? topic = null)
    {
        if (backplane == "memory") return new EventHub(replay: replay);
        if (backplane == "sqlite")
        {
            var files = new Sqlite.SqliteFiles();
            _owned.Add(files);
            return new EventHub(replay: replay, backplane: await files.OpenAsync(files.PathOf()));
        }
        var server = await RedisServer.SharedAsync();
        var redis = await RedisBackplane.ConnectAsync(server.Endpoint, topic ?? RedisServer.Topic());
        _owned.Add(redis);
        return new EventHub(replay: replay, backplane: redis);
    }

    [TearDown]
    public async Task DisposeBackplanes()
    {
        foreach (var owned in _owned) await owned.DisposeAsync();
        _owned.Clear();
    }

    [Test]
    public async Task PublishAsync_numbers_events_and_every_subscriber_gets_them_in_order()
    {
        var hub = await NewHubAsync();
        var subscribers = Enumerable.Range(0, 3).Select(_ => hub.Subscribe()).ToList();
        var ids = new List<string?>();
        for (var i = 0; i < 5; i++) ids.Add((await hub.PublishAsync(new ServerEvent(data: $"m{i}"))).Id);

        ids.Select(id => long.Parse(id!)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        foreach (var events in await Task.WhenAll(subscribers.Select(s => TestApps.TakeAsync(s, 5))))
        {
            events.Select(e => e.Data).Should().Equal("m0", "m1", "m2", "m3", "m4");
            events.Select(e => e.Id).Should().Equal(ids);
        }
    }

    [Test]
    public async Task A_reconnecting_client_gets_exactly_what_it_missed_then_live_events()
    {
        var hub = await NewHubAsync();
        var sent = new List<ServerEvent>();
        for (var i = 1; i <= 5; i++) sent.Add(await hub.PublishAsync(new ServerEvent(data: $"m{i}")));
        await TestApps.UntilAsync(() => hub.LastSequence == long.Parse(sent[^1].Id!));

        var resumed = hub.Subscribe(lastEventId: sent[1].Id);
        await hub.PublishAsync(new ServerEvent(data: "m6"));

        (await TestApps.TakeAsync(resumed, 4)).Select(e => e.Data).Should().Equal("m3", "m4", "m5", "m6");
    }

    [Test]
    public async Task An_unknown_or_too_old_id_gets_a_resync_then_the_whole_replay_window()
    {
        var hub = await NewHubAsync(replay: 3);
        ServerEvent last = null!;
        for (var i = 1; i <= 10; i++) last = await hub.PublishAsync(new ServerEvent(data: $"m{i}"));
        await TestApps.UntilAsync(() => hub.LastSequence == long.Parse(last.Id!));

        // Told first (`resync`, no id), then the whole window.
        (await TestApps.TakeAsync(hub.Subscribe(lastEventId: "unknown-id"), 4)).Select(e => e.Name ?? e.Data).Should().Equal("resync", "m8", "m9", "m10");
        var tooOld = (long.Parse(last.Id!) - 9).ToString();
        (await TestApps.TakeAsync(hub.Subscribe(lastEventId: tooOld), 4)).Select(e => e.Name ?? e.Data).Should().Equal("resync", "m8", "m9", "m10");
    }

    [Test]
    public async Task Fan_out_over_http_to_sse_clients()
    {
        var hub = await NewHubAsync();
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        await using var client = app.CreateClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var readers = Enumerable.Range(0, 3).Select(_ => TestApps.TakeAsync(client.EventsAsync("/feed", cancellationToken: cts.Token), 3)).ToList();
        await TestApps.UntilAsync(() => hub.SubscriberCount == 3);
        foreach (var word in new[] { "a", "b", "c" }) await hub.PublishAsync(new ServerEvent(name: "word", data: word));

        foreach (var events in await Task.WhenAll(readers))
        {
            events.Select(e => e.Data).Should().Equal("a", "b", "c");
            events.Select(e => e.Name).Should().AllBe("word");
        }
    }
}
