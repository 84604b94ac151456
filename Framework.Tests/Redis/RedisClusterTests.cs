using System.Diagnostics;
using FluentAssertions;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>A hub on a real 3-master Redis Cluster: every key and channel of a hub on one shard (its hash tag), sharded
/// pub/sub, the topic contract across instances, and a master killed mid-stream.</summary>
[NonParallelizable]
public class RedisClusterTests : RedisHubTests
{
    /// <summary>Every instance here: made as an app makes it, replay 100.</summary>
    private static readonly HubOptions Options = new() { Replay = 100 };

    /// <summary>A hub name whose keys live on cluster node <paramref name="node"/>.</summary>
    private static async Task<string> NameOnNodeAsync(RedisCluster cluster, int node)
    {
        using var admin = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        var target = $"127.0.0.1:{cluster.Ports[node]}";
        while (true)
        {
            var name = RedisServer.Topic();
            var slot = admin.HashSlot($"bocata:{{{name}}}:seq");
            var owner = admin.GetServer(admin.GetEndPoints()[0]).ClusterConfiguration!.GetBySlot(slot)!.EndPoint!.ToString();
            if (owner == target) return name;
        }
    }

    [Test]
    public async Task Hubs_spread_over_shards_and_each_keeps_the_topic_contract_on_sharded_pub_sub()
    {
        var cluster = await Hubs.StartClusterAsync();
        var names = new[] { await NameOnNodeAsync(cluster, 0), await NameOnNodeAsync(cluster, 2) };
        foreach (var name in names)
        {
            var a = await Hubs.InstanceAsync(cluster.Configuration, name, Options);
            var b = await Hubs.InstanceAsync(cluster.Configuration, name, Options);
            a.Backplane.Sharded.Should().BeTrue("on a cluster the hub uses SSUBSCRIBE/SPUBLISH");

            await using var multi = await b.Client.OpenEventsAsync("/events?topic=users/1&topic=rooms/1");
            await using var feed = await b.Client.OpenEventsAsync("/feed");
            var ids = new List<string>
            {
                (await a.Hub.PublishAsync("users/1", new ServerEvent(data: "n1"))).Id!,
                (await a.Hub.PublishAsync("rooms/2", new ServerEvent(data: "not mine"))).Id!,
                (await a.Hub.PublishAsync("rooms/1", new ServerEvent(data: "m1"))).Id!,
                (await b.Hub.PublishAsync(new ServerEvent(data: "default"))).Id!,
                (await b.Hub.PublishAsync("users/1", new ServerEvent(data: "n2"))).Id!,
            };
            ids.Select(long.Parse).Should().BeInAscendingOrder();
            (await TestApps.TakeAsync(multi, 3)).Select(e => e.Data).Should().Equal("n1", "m1", "n2");
            (await TestApps.TakeAsync(feed, 1)).Single().Data.Should().Be("default");
            b.Backplane.ReceivedEvents.Should().Be(3, "only the topics B's clients read reach B");
            await TestApps.UntilAsync(async () => await a.Hub.CountSubscribersAsync("users/1") == 1);

            // The stream resumes on the other instance.
            var resumed = await TestApps.TakeAsync(a.Client.EventsAsync("/events?topic=users/1&topic=rooms/1", lastEventId: ids[0]), 2);
            resumed.Select(e => e.Data).Should().Equal("m1", "n2");
        }

        // Each hub's keys are all on its own node: one slot per hub, different hubs on different shards.
        for (var node = 0; node < 3; node++)
        {
            using var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{cluster.Ports[node]},allowAdmin=true");
            var keys = admin.GetServer($"127.0.0.1:{cluster.Ports[node]}").Keys(pattern: "bocata:*").Select(k => (string)k!).ToList();
            var hubs = keys.Select(k => k.Split('{', '}')[1]).Distinct().ToList();
            hubs.Should().Equal(node == 0 ? [names[0]] : node == 2 ? [names[1]] : Array.Empty<string>());
        }
    }

    [Test]
    public async Task A_master_killed_mid_stream_fails_publishes_in_bounded_time_and_loses_nothing_acknowledged()
    {
        var cluster = await Hubs.StartClusterAsync();
        var name = await NameOnNodeAsync(cluster, 1);
        var options = Options with { PublishTimeout = TimeSpan.FromSeconds(1) };
        var a = await Hubs.InstanceAsync(cluster.Configuration, name, options);
        var b = await Hubs.InstanceAsync(cluster.Configuration, name, options);
        // Read as EventSource does: when the server ends the stream, reconnect with the last id.
        const string path = "/events?topic=users/1&topic=rooms/1";
        var first = await b.Client.OpenEventsAsync(path);
        var received = new List<ServerEvent>();
        var sessions = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            string? last = null;
            var stream = first;
            while (true)
            {
                sessions++;
                try
                {
                    await using (stream)
                    {
                        await foreach (var e in stream.WithCancellation(stop.Token))
                        {
                            lock (received) received.Add(e);
                            if (e.Id is not null) last = e.Id;
                        }
                    }
                }
                catch (Exception) when (!stop.IsCancellationRequested)
                {
                    // The connection closed under it: reconnect.
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                if (stop.IsCancellationRequested) return;
                await Task.Delay(100);
                try
                {
                    stream = await b.Client.OpenEventsAsync(path, last);
                }
                catch (Exception) when (!stop.IsCancellationRequested)
                {
                    stream = null!;
                }
                while (stream is null && !stop.IsCancellationRequested)
                {
                    await Task.Delay(200);
                    try
                    {
                        stream = await b.Client.OpenEventsAsync(path, last);
                    }
                    catch (Exception) when (!stop.IsCancellationRequested)
                    {
                    }
                }
                if (stream is null) return;
            }
        });

        var acknowledged = new List<string>();
        var failures = new List<TimeSpan>();
        async Task PublishAsync(int i)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                acknowledged.Add((await a.Hub.PublishAsync(i % 2 == 0 ? "users/1" : "rooms/1", new ServerEvent(data: $"e{i}"))).Data!);
            }
            catch (Exception e) when (e is TimeoutException or RedisException)
            {
                failures.Add(watch.Elapsed);
            }
        }
        for (var i = 0; i < 20; i++) await PublishAsync(i);

        cluster.Kill(1);
        for (var i = 20; i < 25; i++) await PublishAsync(i);
        failures.Should().NotBeEmpty("the slot has no master");
        failures.Should().AllSatisfy(f => f.Should().BeLessThan(TimeSpan.FromSeconds(5), "a publish fails within its timeout, never hangs"));

        await cluster.StartNodeAsync(1);
        await cluster.UntilHealthyAsync();
        var next = 25;
        await TestApps.UntilAsync(async () =>
        {
            var before = acknowledged.Count;
            await PublishAsync(next++);
            return acknowledged.Count > before;
        }, TimeSpan.FromSeconds(30));
        for (var i = 0; i < 10; i++) await PublishAsync(next++);

        await TestApps.UntilAsync(() => { lock (received) return acknowledged.All(d => received.Any(e => e.Data == d)); }, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await reader;
        TestContext.Out.WriteLine($"{acknowledged.Count} acknowledged, {failures.Count} failed (slowest {failures.Max().TotalMilliseconds:0} ms), {received.Count} received in {sessions} sessions");
        lock (received)
        {
            // The master came back empty: a new epoch; the stream could not vouch for what was published while its instance was
            // cut off, so it ended, and its resume said so (resync) before the rest.
            var events = received.Where(e => e.Name != "resync").ToList();
            events.Select(e => e.Data).Should().Contain(acknowledged, "nothing acknowledged is lost");
            events.Select(e => long.Parse(e.Id!)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        }
    }
}
