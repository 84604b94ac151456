using System.Net;
using System.Net.Http.Json;
using Bocata.Redis;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>A retry that reaches another instance (nginx tried the next upstream after the first died) is answered from the first
/// response, kept in Redis: newcomer round 4, item 4.</summary>
public class IdempotencyRedisTests
{
    [Test]
    public async Task A_retry_on_another_instance_gets_the_first_response_and_applies_nothing()
    {
        var redis = await RedisServer.SharedAsync();
        var topic = RedisServer.Topic();
        await using var a = await RedisBackplane.ConnectAsync(redis.Endpoint, topic);
        await using var b = await RedisBackplane.ConnectAsync(redis.Endpoint, topic);
        var applied = 0;
        App Instance(RedisBackplane backplane)
        {
            var app = TestApps.Quiet(s => s.IdempotencyStore = backplane.IdempotencyStore);
            app.Post("/bids", async (req, res) =>
            {
                var bid = await req.JsonAsync<Dictionary<string, int>>();
                res.StatusCode = 201;
                res.Json = new { bid = Interlocked.Increment(ref applied), amount = bid["amount"] };
            }).Idempotent();
            return app;
        }
        await using var first = Instance(a).CreateClient();
        await using var second = Instance(b).CreateClient();

        HttpRequestMessage Bid(int amount, string key)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/bids") { Content = JsonContent.Create(new { amount }) };
            request.Headers.Add("Idempotency-Key", key);
            return request;
        }
        var key = Guid.NewGuid().ToString();
        using var original = await first.SendAsync(Bid(50, key));
        using var retried = await second.SendAsync(Bid(50, key));
        using var conflicting = await second.SendAsync(Bid(60, key));

        applied.Should().Be(1);
        retried.StatusCode.Should().Be(HttpStatusCode.Created);
        (await retried.TextAsync()).Should().Be(await original.TextAsync());
        retried.Headers.GetValues("Idempotent-Replayed").Should().Equal("true");
        conflicting.StatusCode.Should().Be(HttpStatusCode.UnprocessableEntity);
    }

    [Test]
    public async Task A_reservation_is_shared_and_a_failed_request_frees_its_key()
    {
        var redis = await RedisServer.SharedAsync();
        await using var backplane = await RedisBackplane.ConnectAsync(redis.Endpoint, RedisServer.Topic());
        var store = backplane.IdempotencyStore;
        var key = Guid.NewGuid().ToString();

        (await store.TryReserveAsync(key, "f1", TimeSpan.FromMinutes(1))).Should().BeNull("the first caller holds it");
        var running = await store.TryReserveAsync(key, "f1", TimeSpan.FromMinutes(1));
        running!.Completed.Should().BeFalse();
        running.Fingerprint.Should().Be("f1");
        await store.ReleaseAsync(key);
        (await store.TryReserveAsync(key, "f1", TimeSpan.FromMinutes(1))).Should().BeNull("a released key is free again");
        await store.CompleteAsync(key, new IdempotentEntry { Fingerprint = "f1", Completed = true, Status = 201, Headers = [new("Content-Type", "application/json")], Body = "{}"u8.ToArray() }, TimeSpan.FromMinutes(1));
        var done = await store.TryReserveAsync(key, "f1", TimeSpan.FromMinutes(1));
        done!.Status.Should().Be(201);
        done.Body.Should().Equal("{}"u8.ToArray());
        done.Headers.Should().ContainSingle().Which.Value.Should().Be("application/json");
    }
}
