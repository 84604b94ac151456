using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sqlite;

/// <summary>Retention trims each topic by count (<c>maxEventsPerTopic</c>) and by age, and records what it trimmed (the topic's
/// low-water mark): after a restart, a client resuming from before it is told (<c>event: resync</c>) and gets what is retained;
/// one resuming from the mark on resumes exactly.</summary>
public class SqliteRetentionTests
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

    [Test]
    public async Task Trimming_by_count_records_the_low_water_mark_and_a_resume_from_before_it_says_resync()
    {
        var file = _files.PathOf();
        var backplane = await _files.OpenAsync(file, maxEventsPerTopic: 5);
        var hub = new EventHub(backplane: backplane);
        var sent = new List<ServerEvent>();
        for (var i = 1; i <= 12; i++)
        {
            sent.Add(await hub.PublishAsync("rooms/1", new ServerEvent(data: $"m{i}")));
            await hub.PublishAsync("rooms/2", new ServerEvent(data: $"other{i}"));
        }

        (await backplane.ReadTopicAsync("rooms/1", long.MaxValue, 100)).Select(e => e.Event.Data).Should().Equal("m8", "m9", "m10", "m11", "m12");
        (await backplane.ReadTopicLowWaterAsync("rooms/1")).Should().Be(long.Parse(sent[6].Id!), "m7 is the newest event trimmed");
        await _files.CloseAsync();

        hub = new EventHub(backplane: await _files.OpenAsync(file, maxEventsPerTopic: 5));
        var client = _files.Serve(hub);
        var fromBefore = await ReadAsync(client, "/events?topic=rooms/1", sent[2].Id, 6);
        fromBefore.Select(e => e.Name ?? e.Data).Should().Equal("resync", "m8", "m9", "m10", "m11", "m12");
        var fromTheMark = await ReadAsync(client, "/events?topic=rooms/1", sent[6].Id, 5);
        fromTheMark.Select(e => e.Name ?? e.Data).Should().Equal("m8", "m9", "m10", "m11", "m12");
    }

    [Test]
    public async Task Trimming_by_age_records_the_low_water_mark_and_a_resume_from_before_it_says_resync()
    {
        var file = _files.PathOf();
        var retention = TimeSpan.FromMilliseconds(400);
        var backplane = await _files.OpenAsync(file, retention);
        var hub = new EventHub(backplane: backplane);
        var old = new List<ServerEvent>();
        for (var i = 1; i <= 3; i++) old.Add(await hub.PublishAsync("rooms/1", new ServerEvent(data: $"old{i}")));
        await TestApps.UntilAsync(async () => await backplane.ReadTopicLowWaterAsync("rooms/1") == long.Parse(old[^1].Id!), Deadline);
        (await backplane.ReadTopicLowWaterAsync("rooms/1")).Should().Be(long.Parse(old[^1].Id!), "the three events aged out");
        (await backplane.ReadTopicAsync("rooms/1", long.MaxValue, 10)).Should().BeEmpty();
        await _files.CloseAsync();

        backplane = await _files.OpenAsync(file, TimeSpan.FromHours(1));
        hub = new EventHub(backplane: backplane);
        var young = await hub.PublishAsync("rooms/1", new ServerEvent(data: "young"));
        long.Parse(young.Id!).Should().Be(long.Parse(old[^1].Id!) + 1, "numbers go on after what retention removed");
        var client = _files.Serve(hub);
        var resumed = await ReadAsync(client, "/events?topic=rooms/1", old[0].Id, 2);
        resumed.Select(e => e.Name ?? e.Data).Should().Equal("resync", "young");
        (await ReadAsync(client, "/events?topic=rooms/1", old[^1].Id, 1)).Select(e => e.Data).Should().Equal("young");
    }
}
