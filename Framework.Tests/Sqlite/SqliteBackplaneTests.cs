using Bocata.Sqlite;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace Bocata.Tests.Sqlite;

/// <summary>The event file itself: numbering and history survive closing and opening it again, concurrent publishes are
/// numbered once each and reach subscribers in order, idempotency keys hold across a restart, and a file that cannot be used
/// (owned by another backplane, corrupt, another database) is a clear startup error naming it.</summary>
public class SqliteBackplaneTests
{
    private SqliteFiles _files = null!;

    [SetUp]
    public void CreateFolder() => _files = new SqliteFiles();

    [TearDown]
    public async Task DeleteFolder() => await _files.DisposeAsync();

    private static long Id(ServerEvent e) => long.Parse(e.Id!);

    [Test]
    public async Task Numbering_and_each_topics_previous_number_continue_after_the_file_is_opened_again()
    {
        var path = _files.PathOf();
        var hub = new EventHub(backplane: await _files.OpenAsync(path));
        var first = Id(await hub.PublishAsync(new ServerEvent(data: "a")));
        var room = Id(await hub.PublishAsync("rooms/1", new ServerEvent(data: "b")));
        var last = Id(await hub.PublishAsync(new ServerEvent(data: "c")));
        (room - first).Should().Be(1);
        (last - room).Should().Be(1);
        await _files.CloseAsync();

        var backplane = await _files.OpenAsync(path);
        var again = new EventHub(backplane: backplane);
        again.LastSequence.Should().Be(last, "the hub continues after the last number in the file");
        var next = await again.PublishAsync("rooms/1", new ServerEvent(data: "d"));
        Id(next).Should().Be(last + 1);
        var stored = await backplane.ReadTopicAsync("rooms/1", long.MaxValue, 10);
        stored.Select(e => (e.Sequence, e.Event.Data)).Should().Equal((room, "b"), (last + 1, "d"));
        stored[1].Previous.Should().Be(room, "the topic's previous event, from before the restart");
    }

    [Test]
    public async Task Concurrent_publishes_get_one_number_each_and_every_subscriber_gets_them_in_order()
    {
        var hub = new EventHub(backplane: await _files.OpenAsync(_files.PathOf()));
        var subscriber = hub.Subscribe();
        var reading = TestApps.TakeAsync(subscriber, 200, TimeSpan.FromSeconds(30));

        var published = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => hub.PublishAsync(new ServerEvent(data: $"m{i}")))));

        var ids = published.Select(Id).Order().ToList();
        ids.Should().OnlyHaveUniqueItems();
        (ids[^1] - ids[0]).Should().Be(199, "numbers are dense: nothing was numbered and lost");
        var received = await reading;
        received.Select(Id).Should().Equal(ids, "the subscriber gets every event once, in number order");
        received.Select(e => e.Data).Should().BeEquivalentTo(published.Select(e => e.Data));
    }

    [Test]
    public async Task A_publish_with_a_key_already_published_returns_the_first_number_also_after_a_restart()
    {
        var path = _files.PathOf();
        var backplane = await _files.OpenAsync(path);
        var hub = new EventHub(backplane: backplane);
        var first = await hub.PublishAsync("orders", new ServerEvent(data: "paid"), "order-7");
        var retried = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => hub.PublishAsync("orders", new ServerEvent(data: "paid"), "order-7")));
        retried.Select(e => e.Id).Should().AllBe(first.Id);
        var other = await hub.PublishAsync("orders", new ServerEvent(data: "paid"), "order-8");
        other.Id.Should().NotBe(first.Id);
        await _files.CloseAsync();

        backplane = await _files.OpenAsync(path);
        hub = new EventHub(backplane: backplane);
        (await hub.PublishAsync("orders", new ServerEvent(data: "paid"), "order-7")).Id.Should().Be(first.Id, "keys are kept in the file");
        (await backplane.ReadTopicAsync("orders", long.MaxValue, 10)).Should().HaveCount(2, "each key was published once");
    }

    [Test]
    public async Task A_second_backplane_on_the_same_file_is_refused_naming_the_file_until_the_first_is_closed()
    {
        var path = _files.PathOf();
        var first = await SqliteBackplane.OpenAsync(path);

        var second = async () => await SqliteBackplane.OpenAsync(path);
        (await second.Should().ThrowAsync<IOException>()).Which.Message.Should().Contain(path).And.Contain("already open");

        await first.DisposeAsync();
        await (await SqliteBackplane.OpenAsync(path)).DisposeAsync();
    }

    [Test]
    public async Task A_file_that_is_not_a_database_is_a_startup_error_naming_it_never_an_empty_hub()
    {
        var path = _files.PathOf();
        await File.WriteAllBytesAsync(path, [.. Enumerable.Range(0, 8192).Select(i => (byte)(i * 7))]);

        var open = async () => await SqliteBackplane.OpenAsync(path);

        var error = (await open.Should().ThrowAsync<InvalidDataException>()).Which;
        error.Message.Should().Contain(path).And.Contain("move the file aside");
        new FileInfo(path).Length.Should().Be(8192, "the file is left as it was, to inspect");
    }

    [Test]
    public async Task A_damaged_event_file_is_a_startup_error_naming_it()
    {
        var path = _files.PathOf();
        var hub = new EventHub(backplane: await _files.OpenAsync(path));
        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => hub.PublishAsync($"rooms/{i % 7}", new ServerEvent(data: new string('x', 200)))));
        await _files.CloseAsync();
        // Pages past the first (the schema) overwritten with garbage: the tables and the index no longer agree.
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.Position = 4096 * 3;
            file.Write([.. Enumerable.Range(0, 4096 * 4).Select(i => (byte)(i * 13 + 5))]);
        }

        var open = async () => await SqliteBackplane.OpenAsync(path);

        (await open.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain(path).And.Contain("cannot be used");
    }

    [Test]
    public async Task Another_sqlite_database_is_refused_naming_its_tables()
    {
        var path = _files.PathOf();
        await using (var other = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            other.Open();
            using var create = other.CreateCommand();
            create.CommandText = "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)";
            create.ExecuteNonQuery();
        }

        var open = async () => await SqliteBackplane.OpenAsync(path);

        (await open.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain(path).And.Contain("customers");
    }

    [Test]
    public async Task Wrong_arguments_say_how_to_call_it()
    {
        var empty = async () => await SqliteBackplane.OpenAsync(" ");
        await empty.Should().ThrowAsync<ArgumentException>();
        var retention = async () => await SqliteBackplane.OpenAsync(_files.PathOf(), TimeSpan.Zero);
        (await retention.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should().Contain("positive");
        var count = async () => await SqliteBackplane.OpenAsync(_files.PathOf(), maxEventsPerTopic: 0);
        (await count.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should().Contain("1 or more");
        var unattached = await _files.OpenAsync(_files.PathOf());
        var publish = async () => await unattached.PublishAsync(new ServerEvent(data: "x"));
        (await publish.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("new EventHub(backplane:");
    }
}
