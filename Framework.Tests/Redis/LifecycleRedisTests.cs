using System.Net;
using Bocata.Redis;
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
}
