// The peer: ASP.NET Core 10 minimal APIs with the same endpoints (TypedResults.ServerSentEvents for SSE).
using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(o => o.AddServerHeader = false);
var port = Environment.GetEnvironmentVariable("PORT") ?? "5000";
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
var app = builder.Build();
var hub = new Broadcaster();

app.MapGet("/plaintext", () => "Hello, World!");
app.MapGet("/json", () => new Greeting("Hello, World!"));
app.MapGet("/items/{id}", (int id) => new Item(id, "item"));
app.MapGet("/sse", (CancellationToken ct) => TypedResults.ServerSentEvents(Events(ct)));
app.MapGet("/hub", (CancellationToken ct) => TypedResults.ServerSentEvents(hub.Subscribe(ct)));
app.MapPost("/publish", () =>
{
    hub.Publish(Stopwatch.GetTimestamp().ToString());
    return hub.Count.ToString();
});

app.MapGet("/count", () => hub.Count.ToString());

// Topics, as a .NET developer writes them by hand: a registry of per-subscriber bounded channels by topic.
var topics = new TopicRegistry();
app.MapGet("/topics", (string user, string room, CancellationToken ct) => TypedResults.ServerSentEvents(topics.Subscribe([$"users/{user}", $"rooms/{room}"], ct)));
app.MapPost("/publish-topic", (string topic) =>
{
    topics.Publish(topic, Stopwatch.GetTimestamp().ToString());
    return "ok";
});
app.MapGet("/topic-count", () => topics.Count.ToString());
app.MapGet("/stats", () =>
    $"alloc={GC.GetTotalAllocatedBytes(false)} gen0={GC.CollectionCount(0)} gen1={GC.CollectionCount(1)} gen2={GC.CollectionCount(2)} " +
    $"pause_ms={GC.GetTotalPauseDuration().TotalMilliseconds:0} cpu_ms={Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds:0}");

// LISTEN=1|metrics|traces: the same listeners on ASP.NET Core's hosting meter and activity source (Shared/Listeners.cs).
Listeners.AttachFromEnvironment("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore");

app.Run();

static async IAsyncEnumerable<SseItem<string>> Events([EnumeratorCancellation] CancellationToken ct = default)
{
    await Task.Yield();
    while (!ct.IsCancellationRequested)
        yield return new SseItem<string>("{\"temperature\":10.41549470378961}");
}

internal sealed record Greeting(string Message);

internal sealed record Item(int Id, string Name);


/// <summary>The registry a .NET developer writes by hand: topic → the bounded channels of its subscribers; a subscriber of
/// several topics has one channel registered under each (a slow one is dropped, as the hub does).</summary>
internal sealed class TopicRegistry
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentDictionary<Channel<string>, byte>> _topics = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Publish(string topic, string data)
    {
        if (!_topics.TryGetValue(topic, out var subscribers)) return;
        foreach (var channel in subscribers.Keys)
        {
            if (channel.Writer.TryWrite(data)) continue;
            channel.Writer.TryComplete();
            subscribers.TryRemove(channel, out _);
        }
    }

    public async IAsyncEnumerable<SseItem<string>> Subscribe(string[] topics, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(64) { SingleReader = true });
        foreach (var topic in topics) _topics.GetOrAdd(topic, _ => new()).TryAdd(channel, 0);
        Interlocked.Increment(ref _count);
        try
        {
            await foreach (var data in channel.Reader.ReadAllAsync(ct))
                yield return new SseItem<string>(data);
        }
        finally
        {
            Interlocked.Decrement(ref _count);
            foreach (var topic in topics)
                if (_topics.TryGetValue(topic, out var subscribers)) subscribers.TryRemove(channel, out _);
        }
    }
}
