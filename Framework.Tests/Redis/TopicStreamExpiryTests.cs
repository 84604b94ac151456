using Bocata.Redis;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>
/// A named topic's Redis stream expires after <see cref="RedisBackplane.TopicStreamRetention"/> without a publish, and a later
/// publish creates it anew. What the expired stream held is gone: a resume from before it must say so (<c>event: resync</c>),
/// never resume "exactly" from the new stream (issue 32, left from the first slice: the new stream's first entry named no
/// previous event, so a resume across it looked complete and silently lost what expired). Streams that heard everything go on.
/// </summary>
[NonParallelizable]
public class TopicStreamExpiryTests : RedisHubTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Retention = TimeSpan.FromSeconds(2);

    /// <summary>Every instance: tuned, topic streams that expire after <see cref="Retention"/>, a linger longer than the tests
    /// (no instance stops listening meanwhile), the backplane's PresenceTtl (5 s), replay 100.</summary>
    private static readonly HubOptions Options = new()
    {
        Tuned = true,
        TopicStreamRetention = Retention,
        Linger = TimeSpan.FromSeconds(30),
        PresenceTtl = TimeSpan.FromSeconds(5),
        Replay = 100,
    };

    private Task<HubInstance> InstanceAsync(string configuration, string name) => Hubs.InstanceAsync(configuration, name, Options);

    /// <summary>Until the topic's stream is gone from Redis (expired).</summary>
    private static async Task UntilExpiredAsync(RedisServer redis, string name, string topic)
    {
        await using var admin = await redis.AdminAsync();
        var db = admin.GetDatabase();
        await TestApps.UntilAsync(() => !db.KeyExists($"bocata:{{{name}}}:topic:{topic}"), Deadline);
    }

    /// <summary>Resumes as a browser does: a stream the server ends before sending anything (it met the hole while starting)
    /// is opened again with the same id, at most twice more.</summary>
    private async Task<List<ServerEvent>> ResumeAsync(TestClient client, string path, string lastEventId, int count)
    {
        for (var attempt = 1; ; attempt++)
        {
            var events = await ReadAsync(client, path, lastEventId, count);
            if (events.Count > 0 || attempt == 3) return events;
        }
    }

    private async Task<List<ServerEvent>> ReadAsync(TestClient client, string path, string lastEventId, int count)
    {
        var stream = await client.OpenEventsAsync(path, lastEventId);
        Hubs.Own(stream);
        var events = new List<ServerEvent>();
        using var timeout = new CancellationTokenSource(Deadline);
        await foreach (var e in stream.WithCancellation(timeout.Token))
        {
            events.Add(e);
            if (events.Count == count) break;
        }
        return events;
    }

    [Test]
    public async Task A_resume_from_before_a_topic_stream_expired_and_was_created_again_starts_with_a_resync_notice()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var e1 = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "e1"));
        var e2 = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "e2"));
        await UntilExpiredAsync(redis, name, "rooms/1");
        var e3 = await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "e3"));

        // The client had e1; e2 expired with the stream. B never heard the topic: it reads the new stream.
        var resumed = await ResumeAsync(b.Client, "/events?topic=rooms/1", e1.Id!, 2);
        resumed[0].Name.Should().Be("resync", $"e2 expired with the topic's stream: {Describe(resumed)}");
        resumed[1].Id.Should().Be(e3.Id);

        // The client had e2: nothing it needs expired; exact, no notice.
        var exact = await ResumeAsync(b.Client, "/events?topic=rooms/1", e2.Id!, 1);
        exact.Select(e => e.Id).Should().Equal([e3.Id], "every event after e2 is retained");
    }

    [Test]
    public async Task A_resume_from_before_a_topic_stream_expired_with_nothing_published_since_starts_with_a_resync_notice()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var e1 = await a.Hub.PublishAsync("rooms/2", new ServerEvent(data: "e1"));
        await a.Hub.PublishAsync("rooms/2", new ServerEvent(data: "e2"));
        await UntilExpiredAsync(redis, name, "rooms/2");

        var notice = await ResumeAsync(b.Client, "/events?topic=rooms/2", e1.Id!, 1);
        notice.Should().ContainSingle().Which.Name.Should().Be("resync", "e2 expired with the topic's stream and nothing says it did otherwise");

        // The notice has no id: the client's next resume is with e1 again; it is told again, then gets what follows.
        var stream = await b.Client.OpenEventsAsync("/events?topic=rooms/2", e1.Id);
        Hubs.Own(stream);
        await using var events = stream.GetAsyncEnumerator();
        using var timeout = new CancellationTokenSource(Deadline);
        (await events.MoveNextAsync().AsTask().WaitAsync(timeout.Token)).Should().BeTrue();
        events.Current.Name.Should().Be("resync");
        var e3 = await a.Hub.PublishAsync("rooms/2", new ServerEvent(data: "e3"));
        (await events.MoveNextAsync().AsTask().WaitAsync(timeout.Token)).Should().BeTrue();
        events.Current.Id.Should().Be(e3.Id, "then live events");
    }

    [Test]
    public async Task A_stream_open_across_the_expiry_goes_on_without_a_resync()
    {
        var redis = await RedisServer.SharedAsync();
        var name = RedisServer.Topic();
        var a = await InstanceAsync(redis.Endpoint, name);
        var b = await InstanceAsync(redis.Endpoint, name);
        var stream = await b.Client.OpenEventsAsync("/events?topic=rooms/3");
        Hubs.Own(stream);
        await using var events = stream.GetAsyncEnumerator();
        using var timeout = new CancellationTokenSource(Deadline);
        var e1 = await a.Hub.PublishAsync("rooms/3", new ServerEvent(data: "e1"));
        (await events.MoveNextAsync().AsTask().WaitAsync(timeout.Token)).Should().BeTrue();
        events.Current.Id.Should().Be(e1.Id);
        await UntilExpiredAsync(redis, name, "rooms/3");

        var e2 = await a.Hub.PublishAsync("rooms/3", new ServerEvent(data: "e2"));
        (await events.MoveNextAsync().AsTask().WaitAsync(timeout.Token)).Should().BeTrue("a stream that heard everything is not ended");
        events.Current.Id.Should().Be(e2.Id, "it missed nothing: no resync, no gap");
        b.Hub.SubscriberCount.Should().Be(1);
    }
}
