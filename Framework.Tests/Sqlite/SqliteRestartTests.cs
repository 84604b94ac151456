using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sqlite;

/// <summary>A restart of a one-box app on an event file (issue 35, item 2): clients that read part of the feed before it
/// reconnect to the new process with their <c>Last-Event-ID</c> and get exactly what they missed — from before the restart and
/// after it — then live events, on the default topic, one topic and several at once, over HTTP. A file lost with the process
/// starts a new epoch: those clients are told (<c>resync</c>), never resumed silently into new numbers.</summary>
public class SqliteRestartTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private SqliteFiles _files = null!;

    [SetUp]
    public void CreateFolder() => _files = new SqliteFiles();

    [TearDown]
    public async Task DeleteFolder() => await _files.DisposeAsync();

    private static async Task<List<ServerEvent>> ReadAsync(TestClient client, string path, string? lastEventId, int count)
    {
        await using var stream = await client.OpenEventsAsync(path, lastEventId);
        return await TestApps.TakeAsync(stream, count, Deadline);
    }

    [TestCase("/feed", new string[0])]
    [TestCase("/events?topic=rooms/1", new[] { "rooms/1" })]
    [TestCase("/events?topic=rooms/1&topic=rooms/2", new[] { "rooms/1", "rooms/2" })]
    public async Task A_client_resumes_exactly_across_a_restart(string path, string[] topics)
    {
        var file = _files.PathOf();
        var hub = new EventHub(replay: 100, backplane: await _files.OpenAsync(file));
        var client = _files.Serve(hub);
        // Every topic gets events; the stream reads only its own.
        var before = new List<ServerEvent>();
        var mine = new List<ServerEvent>();
        async Task PublishRoundAsync(EventHub on, string label)
        {
            foreach (var topic in new[] { "", "rooms/1", "rooms/2", "rooms/3" })
            {
                var e = topic.Length == 0 ? await on.PublishAsync(new ServerEvent(data: $"{label}:default")) : await on.PublishAsync(topic, new ServerEvent(data: $"{label}:{topic}"));
                if (topics.Length == 0 ? topic.Length == 0 : topics.Contains(topic)) mine.Add(e);
            }
        }
        var stream = await client.OpenEventsAsync(path);
        for (var i = 0; i < 4; i++) await PublishRoundAsync(hub, $"before{i}");
        var half = mine.Count / 2;
        var read = await TestApps.TakeAsync(stream, half, Deadline);
        read.Select(e => e.Data).Should().Equal(mine.Take(half).Select(e => e.Data));
        var lastSeen = read[^1].Id;
        await stream.DisposeAsync();

        // The process restarts on the same file; the new one publishes before the client is back.
        await _files.CloseAsync();
        hub = new EventHub(replay: 100, backplane: await _files.OpenAsync(file));
        client = _files.Serve(hub);
        await PublishRoundAsync(hub, "after");
        var missed = mine.Skip(half).ToList();

        var resumed = await ReadAsync(client, path, lastSeen, missed.Count);

        resumed.Select(e => e.Name ?? e.Data).Should().Equal(missed.Select(e => e.Data), "everything after the client's last id, from before the restart and after it, and no resync");
        resumed.Select(e => e.Id).Should().Equal(missed.Select(e => e.Id));
    }

    [Test]
    public async Task After_the_file_is_lost_a_client_from_the_old_file_is_told_then_gets_what_the_new_one_holds()
    {
        var file = _files.PathOf();
        var hub = new EventHub(backplane: await _files.OpenAsync(file));
        ServerEvent old = null!;
        for (var i = 0; i < 3; i++) old = await hub.PublishAsync("rooms/1", new ServerEvent(data: $"old{i}"));
        await _files.CloseAsync();
        File.Delete(file);

        hub = new EventHub(backplane: await _files.OpenAsync(file));
        var client = _files.Serve(hub);
        var fresh = await hub.PublishAsync("rooms/1", new ServerEvent(data: "new"));
        long.Parse(fresh.Id!).Should().BeGreaterThan(long.Parse(old.Id!), "a new file begins above every number an earlier one gave");

        var resumed = await ReadAsync(client, "/events?topic=rooms/1", old.Id, 2);

        resumed.Select(e => e.Name ?? e.Data).Should().Equal("resync", "new");
    }
}
