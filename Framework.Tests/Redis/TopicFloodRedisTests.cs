using Bocata.Redis;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>
/// Security round 4, finding 1, the Redis side: streams naming topics nobody publishes to (a flood of random topic names)
/// cost Redis a bounded number of commands each and leave nothing behind once they end.
/// </summary>
[NonParallelizable]
public class TopicFloodRedisTests : RedisHubTests
{
    [Test]
    public async Task Streams_naming_many_unpublished_topics_cost_a_bounded_few_commands_and_leave_no_key_behind()
    {
        var redis = await Hubs.StartRedisAsync();
        using var admin = await redis.AdminAsync();
        var server = admin.GetServer(redis.Endpoint);
        var name = RedisServer.Topic();
        var options = new HubOptions { Tuned = true, Linger = TimeSpan.FromMilliseconds(200) };
        var a = await Hubs.InstanceAsync(redis.Endpoint, name, options);
        await a.Hub.PublishAsync("rooms/real", new ServerEvent(data: "x"));
        var keysBefore = (long)await server.ExecuteAsync("DBSIZE");
        await server.ExecuteAsync("CONFIG", "RESETSTAT");

        // 40 streams, each naming 64 topics nobody ever published to, opened then closed.
        const int streams = 40;
        for (var s = 0; s < streams; s++)
        {
            var query = string.Join("&", Enumerable.Range(0, 64).Select(i => $"topic=rooms/{Guid.NewGuid():N}"));
            await using var stream = await a.Client.OpenEventsAsync("/events?" + query);
        }
        await TestApps.UntilAsync(() => a.Hub.TopicCount <= 2, TimeSpan.FromSeconds(30));
        var stats = (string)(await server.ExecuteAsync("INFO", "commandstats"))!;
        var calls = stats.Split('\n').Where(l => l.StartsWith("cmdstat_", StringComparison.Ordinal))
            .Select(l => (Command: l[8..l.IndexOf(':', StringComparison.Ordinal)], Calls: long.Parse(l.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture)))
            .Where(c => c.Command is not ("info" or "config" or "dbsize"))
            .ToList();
        var total = calls.Sum(c => c.Calls);
        TestContext.Out.WriteLine($"{streams} streams x 64 topics: {total} Redis commands ({(double)total / streams:0.0} per stream): " +
            string.Join(", ", calls.OrderByDescending(c => c.Calls).Take(12).Select(c => $"{c.Command} {c.Calls}")));

        // Listener sets and presence go with the streams: what stays is what was there before (the heartbeat's keys aside).
        await TestApps.UntilAsync(async () => (long)await server.ExecuteAsync("DBSIZE") <= keysBefore + 1, TimeSpan.FromSeconds(30));
        ((long)await server.ExecuteAsync("DBSIZE")).Should().BeLessThanOrEqualTo(keysBefore + 1, "a topic nobody publishes leaves nothing in Redis once its streams end");
        // Per topic: joining its listener set (SADD, EXPIRE) and its stream's newest number (XREVRANGE), in one script per
        // batch, and leaving it (SREM, once the stream ended: counted or not, depending on when the stop batch ran) — 4 at
        // most, plus the scripts' own few per batch; nothing read from a stream that has nothing newer, nothing written for
        // presence that never reached a heartbeat. (Before: 862-966 commands per stream, 13-15 per topic.)
        ((double)total / streams).Should().BeLessThan(64 * 5, "a stream of 64 topics costs Redis a few commands per topic, not a dozen");
    }
}
