using Bocata.Redis;
using Bocata.Testing;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>How <see cref="RedisHubFixture"/> makes one instance of a hub: its backplane, its <see cref="EventHub"/> and its app.</summary>
internal sealed record HubOptions
{
    /// <summary>False (the default): the backplane is made as an app makes it, with <see cref="RedisBackplane.ConnectAsync"/> (its own
    /// connection; a publish fails at once while Redis is down), every setting at its default but <see cref="PublishTimeout"/>.
    /// True: on a connection of the fixture's (AbortOnConnectFail off; commands wait in the client's backlog while Redis is
    /// down), with <see cref="Linger"/>, <see cref="PresenceTtl"/>, <see cref="CheckInterval"/>, <see cref="TopicStreamMaxLength"/> and
    /// <see cref="TopicStreamRetention"/>.</summary>
    public bool Tuned { get; init; }

    /// <summary>The backplane's <see cref="RedisBackplane.PublishTimeout"/> (its default, 2 s, unless set).</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>With <see cref="Tuned"/> only: <see cref="RedisBackplane.Linger"/>.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>With <see cref="Tuned"/> only: <see cref="RedisBackplane.PresenceTtl"/> (15 s here: a slow machine never takes a
    /// live instance for dead unless the test means it to).</summary>
    public TimeSpan PresenceTtl { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>With <see cref="Tuned"/> only: <see cref="RedisBackplane.CheckInterval"/> (the heartbeat).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>With <see cref="Tuned"/> only: <see cref="RedisBackplane.TopicStreamMaxLength"/>.</summary>
    public int TopicStreamMaxLength { get; init; } = 1000;

    /// <summary>With <see cref="Tuned"/> only: <see cref="RedisBackplane.TopicStreamRetention"/>.</summary>
    public TimeSpan TopicStreamRetention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The hub's replay window; null: <see cref="EventHub"/>'s default.</summary>
    public int? Replay { get; init; }

    /// <summary>The hub's buffer size; null: <see cref="EventHub"/>'s default.</summary>
    public int? BufferSize { get; init; }

    /// <summary>Whether the instance serves the hub: an app on real Kestrel with <c>GET /events?topic=…&amp;topic=…</c> (named
    /// topics), <c>GET /feed</c> (the default topic) and <c>POST /publish</c> (the body's text to the default topic; answers
    /// <c>{"id": …}</c>), and a <see cref="TestClient"/> for it.</summary>
    public bool Serve { get; init; } = true;

    /// <summary>The streams' ping interval; null: <see cref="Response.EventStream"/>'s default.</summary>
    public TimeSpan? Ping { get; init; }

    /// <summary>The app's settings beyond the quiet test defaults (e.g. its loggers).</summary>
    public Action<Settings>? Settings { get; init; }
}

/// <summary>One instance of a hub: what a process of a scaled-out app holds.</summary>
internal sealed class HubInstance(EventHub hub, RedisBackplane backplane, TestClient? client)
{
    public EventHub Hub { get; } = hub;

    public RedisBackplane Backplane { get; } = backplane;

    /// <summary>A client of the instance's app (<see cref="HubOptions.Serve"/>).</summary>
    public TestClient Client => client ?? throw new InvalidOperationException("This instance serves nothing: made with Serve = false.");
}

/// <summary>
/// What a Redis test builds: instances of a hub (a backplane on a Redis, its hub, an app and client), dedicated redis-servers
/// and clusters, and background recorders of event streams. Everything made here is disposed with the fixture, newest first;
/// servers and clusters after everything else, so instances leave a Redis that still answers. Make one per test
/// (<see cref="RedisHubTests"/>); disposing it again does nothing.
/// </summary>
internal sealed class RedisHubFixture : IAsyncDisposable
{
    /// <summary>How long a test waits for a condition it expects (a busy CI machine is slow; nothing waits this long when it works).</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<IAsyncDisposable> _servers = [];

    /// <summary>An instance of the hub <paramref name="name"/> on the Redis (or cluster) of <paramref name="configuration"/>.</summary>
    public async Task<HubInstance> InstanceAsync(string configuration, string name, HubOptions? options = null)
    {
        var o = options ?? new HubOptions();
        RedisBackplane backplane;
        if (o.Tuned)
        {
            var connection = ConfigurationOptions.Parse(configuration);
            connection.AbortOnConnectFail = false;
            var multiplexer = Own(await ConnectionMultiplexer.ConnectAsync(connection));
            backplane = Own(new RedisBackplane(multiplexer, name)
            {
                Linger = o.Linger,
                PresenceTtl = o.PresenceTtl,
                CheckInterval = o.CheckInterval,
                TopicStreamMaxLength = o.TopicStreamMaxLength,
                TopicStreamRetention = o.TopicStreamRetention,
                PublishTimeout = o.PublishTimeout,
            });
        }
        else
        {
            var plain = new HubOptions();
            if ((o.Linger, o.PresenceTtl, o.CheckInterval, o.TopicStreamMaxLength, o.TopicStreamRetention)
                != (plain.Linger, plain.PresenceTtl, plain.CheckInterval, plain.TopicStreamMaxLength, plain.TopicStreamRetention))
                throw new ArgumentException("Linger, PresenceTtl, CheckInterval, TopicStreamMaxLength and TopicStreamRetention apply with Tuned = true only.", nameof(options));
            backplane = Own(await RedisBackplane.ConnectAsync(configuration, name, o.PublishTimeout));
        }
        var hub = (o.Replay, o.BufferSize) switch
        {
            (null, null) => new EventHub(backplane: backplane),
            ({ } replay, null) => new EventHub(replay: replay, backplane: backplane),
            (null, { } bufferSize) => new EventHub(bufferSize: bufferSize, backplane: backplane),
            ({ } replay, { } bufferSize) => new EventHub(replay, bufferSize, backplane),
        };
        if (!o.Serve) return new HubInstance(hub, backplane, null);
        var app = TestApps.Quiet(o.Settings);
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, req.QueryParams.GetAll("topic").ToArray()), o.Ping));
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req), o.Ping));
        app.Post("/publish", async (req, res) => res.Json = new { id = (await hub.PublishAsync(new ServerEvent(data: await req.TextAsync()))).Id });
        return new HubInstance(hub, backplane, Own(app.CreateClient()));
    }

    /// <summary>A redis-server of the test's own (see <see cref="RedisServer.StartDedicatedAsync"/>), stopped after every instance.</summary>
    public async Task<RedisServer> StartRedisAsync(int? port = null, string? dataDirectory = null)
    {
        var server = await RedisServer.StartDedicatedAsync(port, dataDirectory);
        _servers.Add(server);
        return server;
    }

    /// <summary>A Redis Cluster of the test's own, stopped after every instance.</summary>
    public async Task<RedisCluster> StartClusterAsync()
    {
        var cluster = await RedisCluster.StartAsync();
        _servers.Add(cluster);
        return cluster;
    }

    /// <summary>Disposes something made or owned here now (a server the test stops), and forgets it.</summary>
    public async Task StopAsync(IAsyncDisposable owned)
    {
        if (!_owned.Remove(owned) && !_servers.Remove(owned)) throw new ArgumentException("Not owned by this fixture.", nameof(owned));
        await owned.DisposeAsync();
    }

    /// <summary>Disposed with the fixture, before whatever it owned already.</summary>
    public T Own<T>(T owned) where T : IAsyncDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    /// <summary>Disposed with the fixture, before whatever it owned already.</summary>
    public void Own(IDisposable owned) => _owned.Add(new Disposing(owned));

    /// <summary>Opens <paramref name="path"/> (its headers arrived: the subscription is registered) and reads it in the background.</summary>
    public async Task<StreamRecorder> RecordAsync(TestClient client, string path, string? lastEventId = null)
    {
        var stream = Own(await client.OpenEventsAsync(path, lastEventId));
        return Own(new StreamRecorder(stream));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var list in new[] { _owned, _servers })
        {
            for (var i = list.Count - 1; i >= 0; i--) await list[i].DisposeAsync();
            list.Clear();
        }
    }

    private sealed class Disposing(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>A class of Redis tests: each test gets a fresh <see cref="RedisHubFixture"/>, disposed after it.</summary>
public abstract class RedisHubTests
{
    internal RedisHubFixture Hubs { get; private set; } = null!;

    [SetUp]
    public void CreateHubs() => Hubs = new RedisHubFixture();

    [TearDown]
    public async Task DisposeHubs() => await Hubs.DisposeAsync();

    /// <summary>Events as a failure message shows them: <c>[name]data#id</c>.</summary>
    protected static string Describe(IEnumerable<ServerEvent> events) =>
        string.Join(", ", events.Select(e => e.Name is { } n ? $"[{n}]{e.Data}#{e.Id}" : $"{e.Data}#{e.Id}"));
}

/// <summary>Reads a stream in the background into a list: what it got, and whether the server ended it.</summary>
internal sealed class StreamRecorder : IAsyncDisposable
{
    private readonly List<ServerEvent> _events = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private volatile bool _ended;

    public StreamRecorder(IAsyncEnumerable<ServerEvent> stream) => _reading = Task.Run(async () =>
    {
        try
        {
            await foreach (var e in stream.WithCancellation(_stop.Token))
                lock (_events) _events.Add(e);
            _ended = true;
        }
        catch (Exception)
        {
            // Cancelled by this reader, or the connection closed under it (ended by the server).
            _ended = !_stop.IsCancellationRequested;
        }
    });

    /// <summary>The server ended the stream (not this reader).</summary>
    public bool Ended => _ended;

    public List<ServerEvent> Events
    {
        get
        {
            lock (_events) return [.. _events];
        }
    }

    public bool Has(string id)
    {
        lock (_events) return _events.Any(e => e.Id == id);
    }

    /// <summary>Until the event with <paramref name="id"/> arrived or the stream ended (or the deadline).</summary>
    public Task UntilAsync(string id, TimeSpan? within = null) => TestApps.UntilAsync(() => Has(id) || _ended, within ?? RedisHubFixture.Deadline);

    public Task UntilCountAsync(int count, TimeSpan? within = null) => TestApps.UntilAsync(() => Events.Count >= count || _ended, within ?? RedisHubFixture.Deadline);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _reading;
        _stop.Dispose();
    }
}
