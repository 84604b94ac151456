using System.Net;
using Bocata.Redis;
using Bocata.Tests.Sse;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>What a deploy needs from a hub on Redis: readiness that follows Redis, and sign-outs that reach every instance.</summary>
public class LifecycleRedisTests
{
    [Test]
    public async Task Readiness_fails_while_Redis_is_unreachable_and_names_it()
    {
        var redis = await RedisServer.StartDedicatedAsync();
        await using var backplane = await RedisBackplane.ConnectAsync(redis.Endpoint + ",connectTimeout=1000", RedisServer.Topic());
        var hub = new EventHub(backplane: backplane);
        var app = TestApps.Quiet();
        app.Health();
        app.Ready("events", hub);
        await using var client = app.CreateClient();
        (await client.GetAsync("/readyz")).StatusCode.Should().Be(HttpStatusCode.OK);

        await redis.DisposeAsync();
        HttpStatusCode status = 0;
        await TestApps.UntilAsync(async () => (status = (await client.GetAsync("/readyz")).StatusCode) == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(20));

        status.Should().Be(HttpStatusCode.ServiceUnavailable);
        var body = await (await client.GetAsync("/readyz")).JsonAsync();
        body.GetProperty("detail").GetProperty("events").GetString().Should().Contain("Redis is unreachable");
    }

    [Test]
    public async Task Disconnect_ends_the_users_streams_on_every_instance_and_counts_this_ones()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        await using var backplaneA = await RedisBackplane.ConnectAsync(redis.Endpoint, topic);
        await using var backplaneB = await RedisBackplane.ConnectAsync(redis.Endpoint, topic);
        var hubA = new EventHub(backplane: backplaneA);
        var hubB = new EventHub(backplane: backplaneB);
        await using var clientA = DisconnectTests.UsersApp(hubA).CreateClient();
        await using var clientB = DisconnectTests.UsersApp(hubB).CreateClient();
        using var aliceOnA = await DisconnectTests.OpenStream.OpenAsync(clientA, "/events?user=alice");
        using var aliceOnB = await DisconnectTests.OpenStream.OpenAsync(clientB, "/rooms?user=alice");
        using var bobOnB = await DisconnectTests.OpenStream.OpenAsync(clientB, "/events?user=bob");
        await TestApps.UntilAsync(() => hubA.SubscriberCount == 1 && hubB.SubscriberCount == 2, RedisHubFixture.Deadline);

        var ended = await hubA.DisconnectAsync("alice");

        ended.Should().Be(1, "one of alice's streams was open on this instance");
        await aliceOnA.RestAsync();
        await aliceOnB.RestAsync();
        await TestApps.UntilAsync(() => hubB.SubscriberCount == 1, RedisHubFixture.Deadline);
        hubB.SubscriberCount.Should().Be(1, "bob's stream stays open");
        await hubA.PublishAsync(new ServerEvent(data: "after"));
        (await bobOnB.NextDataAsync()).Should().Be("after", "the disconnect took no number and disturbed no event");
    }
}
