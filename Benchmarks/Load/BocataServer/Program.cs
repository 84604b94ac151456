// Bocata side of the load benchmark: the same endpoints as RawKestrel and MinimalApi.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Bocata;
using Bocata.Redis;

// PROBE=host:port: no server; two hubs in this process on that Redis, 1,000 publishes/s on one, publish->delivery latency on
// the other (the backplane alone: no HTTP, no SSE, no load client), after a 5 s warm-up.
if (Environment.GetEnvironmentVariable("PROBE") is { Length: > 0 } probe)
{
    await Probe.RunAsync(probe);
    return;
}
// PROBE_MEMORY=host:port: managed heap per subscriber (a user topic and one of 100 rooms each) on a hub in memory and on a
// hub with the Redis backplane: what the backplane adds per subscriber, without RSS noise. HOLD=seconds keeps the process
// alive after measuring the Redis hub, for dotnet-gcdump.
if (Environment.GetEnvironmentVariable("PROBE_MEMORY") is { Length: > 0 } probeMemory)
{
    await Probe.MemoryAsync(probeMemory, int.Parse(Environment.GetEnvironmentVariable("SUBSCRIBERS") ?? "10000"));
    return;
}

var app = new App();
// ACCESS_LOG=1 runs the default configuration (console access log on) for the "default" row of the benchmark.
var defaults = Environment.GetEnvironmentVariable("ACCESS_LOG") == "1";
app.Configure(s =>
{
    s.StaticDir = null;
    if (defaults) return;
    s.AccessLog = false;
    s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
});
// REDIS=host:port puts the hub on the Redis backplane (the scale-out runs); BUFFER sizes each subscriber's allowed lag.
var buffer = int.Parse(Environment.GetEnvironmentVariable("BUFFER") ?? "64");
var redis = Environment.GetEnvironmentVariable("REDIS");
var hub = redis is null
    ? new EventHub(replay: 16, bufferSize: buffer)
    : new EventHub(replay: 16, bufferSize: buffer, backplane: await RedisBackplane.ConnectAsync(redis, Environment.GetEnvironmentVariable("TOPIC") ?? "bench"));

app.Route("/plaintext", (req, res) => res.Text = "Hello, World!");
app.Route("/json", (req, res) => res.Json = new Greeting("Hello, World!"));
app.Route("/items/{id}", (Request req, Response res, int id) => res.Json = new Item(id, "item"));
app.Route("/sse", (req, res) => res.EventStream(Events()));
app.Route("/hub", (req, res) => res.EventStream(hub.Subscribe(req)));
app.Post("/publish", async (req, res) =>
{
    await hub.PublishAsync(new ServerEvent(data: Stopwatch.GetTimestamp().ToString()));
    res.Text = hub.SubscriberCount.ToString();
});
app.Get("/count", (req, res) => res.Text = hub.SubscriberCount.ToString());
// n events published at once (pipelined to Redis on a distributed hub): the backplane's throughput without HTTP per event.
app.Post("/publish-burst", async (Request req, Response res, int n = 1000) =>
{
    var all = new Task<ServerEvent>[Math.Clamp(n, 1, 100_000)];
    for (var i = 0; i < all.Length; i++) all[i] = hub.PublishAsync(new ServerEvent(data: Stopwatch.GetTimestamp().ToString()));
    await Task.WhenAll(all);
    res.Text = all.Length.ToString();
});

// Topics (the topics run): a stream of a user's topic and one room; a publish to one topic, timestamped.
var topics = redis is null
    ? new EventHub(replay: 16, bufferSize: buffer)
    : new EventHub(replay: 16, bufferSize: buffer, backplane: await RedisBackplane.ConnectAsync(redis, (Environment.GetEnvironmentVariable("TOPIC") ?? "bench") + "-topics"));
app.Route("/topics", (req, res) => res.EventStream(topics.Subscribe(req, $"users/{req.QueryParams["user"]}", $"rooms/{req.QueryParams["room"]}")));
app.Post("/publish-topic", async (req, res) =>
{
    await topics.PublishAsync(req.QueryParams["topic"] ?? "none", new ServerEvent(data: Stopwatch.GetTimestamp().ToString()));
    res.Text = "ok";
});
app.Get("/topic-count", (req, res) => res.Text = topics.SubscriberCount.ToString());

// Server-side counters for the scale run: bytes allocated, GC counts and pause, CPU time.
app.Route("/stats", (req, res) => res.Text = Stats.Line());

// LISTEN=1|metrics|traces attaches what an OpenTelemetry exporter would (Shared/Listeners.cs).
Listeners.AttachFromEnvironment("Bocata", "Bocata");

app.Run();

static async IAsyncEnumerable<ServerEvent> Events([EnumeratorCancellation] CancellationToken ct = default)
{
    await Task.Yield();
    for (var n = 0; !ct.IsCancellationRequested; n++)
        yield return new ServerEvent(data: "{\"temperature\":10.41549470378961}");
}

internal sealed record Greeting(string Message);

internal sealed record Item(int Id, string Name);

internal static class Stats
{
    private static long s_received;
    private static long s_unserved;
    private static readonly System.Diagnostics.Metrics.MeterListener Listener = Listen();

    // Named topics' events Redis sent this instance (served or not): what the topics scale-out run checks.
    private static System.Diagnostics.Metrics.MeterListener Listen()
    {
        var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "bocata.backplane.received_events") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            Interlocked.Add(ref s_received, value);
            foreach (var tag in tags)
                if (tag.Key == "served" && tag.Value is false) Interlocked.Add(ref s_unserved, value);
        });
        listener.Start();
        return listener;
    }

    public static string Line() =>
        $"alloc={GC.GetTotalAllocatedBytes(false)} gen0={GC.CollectionCount(0)} gen1={GC.CollectionCount(1)} gen2={GC.CollectionCount(2)} " +
        $"pause_ms={GC.GetTotalPauseDuration().TotalMilliseconds:0} cpu_ms={Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds:0} " +
        $"backplane_events={Interlocked.Read(ref s_received) + (Listener is null ? 1 : 0)} unserved_events={Interlocked.Read(ref s_unserved)}";
}

internal static class Probe
{
    public static async Task MemoryAsync(string redis, int count)
    {
        // Warm-up: the same on a small hub of each kind, so first-use costs (compiled code, pools, Redis connections) are not counted.
        await PerSubscriberAsync(null, 200);
        await PerSubscriberAsync(redis, 200);
        var inMemory = await PerSubscriberAsync(null, count);
        var onRedis = await PerSubscriberAsync(redis, count);
        Console.WriteLine($"subscribers={count} bytes_per_subscriber_in_memory={inMemory:0} bytes_per_subscriber_on_redis={onRedis:0} backplane_adds={onRedis - inMemory:0}");
    }

    private static async Task<double> PerSubscriberAsync(string? redis, int count)
    {
        await using var backplane = redis is null ? null : await RedisBackplane.ConnectAsync(redis, "memory-" + Guid.NewGuid().ToString("N")[..8]);
        var hub = new EventHub(replay: 16, bufferSize: 64, backplane: backplane);
        using var stop = new CancellationTokenSource();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var readers = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var stream = hub.Subscribe([$"users/{i}", $"rooms/{i % 100}"], ct: stop.Token).GetAsyncEnumerator(stop.Token);
            readers.Add(stream.MoveNextAsync().AsTask());
        }
        // Listening on Redis is registered in batches: give it time, then measure with every subscriber waiting. The least of
        // five samples: a heartbeat's pipelined batch of presence counts in flight during one (one command per topic whose
        // count changed) moved a single sample by up to 100 B per subscriber.
        await Task.Delay(TimeSpan.FromSeconds(redis is null ? 0.5 : 3));
        var after = long.MaxValue;
        for (var sample = 0; sample < 5; sample++)
        {
            after = Math.Min(after, GC.GetTotalMemory(forceFullCollection: true));
            await Task.Delay(300);
        }
        if (redis is not null && count > 1000 && Environment.GetEnvironmentVariable("HOLD") is { Length: > 0 } hold) await Task.Delay(TimeSpan.FromSeconds(int.Parse(hold)));
        await stop.CancelAsync();
        try
        {
            await Task.WhenAll(readers);
        }
        catch (OperationCanceledException)
        {
        }
        GC.KeepAlive(hub);
        return (after - before) / (double)count;
    }

    public static async Task RunAsync(string redis)
    {
        var name = "probe-" + Guid.NewGuid().ToString("N")[..8];
        var a = new EventHub(replay: 16, bufferSize: 1024, backplane: await RedisBackplane.ConnectAsync(redis, name));
        var b = new EventHub(replay: 16, bufferSize: 1024, backplane: await RedisBackplane.ConnectAsync(redis, name));
        using var stop = new CancellationTokenSource();
        var latencies = new List<double>();
        long measureFrom = long.MaxValue;
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in b.Subscribe(ct: stop.Token))
                {
                    var now = Stopwatch.GetTimestamp();
                    var sent = long.Parse(e.Data!, System.Globalization.CultureInfo.InvariantCulture);
                    if (sent >= Volatile.Read(ref measureFrom)) latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        async Task RunAsync(double seconds)
        {
            var clock = Stopwatch.StartNew();
            for (long n = 0; clock.Elapsed.TotalSeconds < seconds; n++)
            {
                var due = TimeSpan.FromMilliseconds(n);
                if (clock.Elapsed < due) await Task.Delay(due - clock.Elapsed);
                await a.PublishAsync(new ServerEvent(data: Stopwatch.GetTimestamp().ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        }
        await RunAsync(5);
        Volatile.Write(ref measureFrom, Stopwatch.GetTimestamp());
        await RunAsync(10);
        await Task.Delay(500);
        await stop.CancelAsync();
        await reader;
        var all = latencies.Order().ToArray();
        double P(double q) => all[(int)(q * (all.Length - 1))];
        Console.WriteLine($"delivered={all.Length} p50_ms={P(0.5):0.00} p90_ms={P(0.9):0.00} p99_ms={P(0.99):0.00} max_ms={all[^1]:0.0}");
    }
}
