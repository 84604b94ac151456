using BenchmarkDotNet.Attributes;

namespace Bocata.Benchmarks.Micro;

/// <summary>A publish to a topic with one subscriber, whatever else the hub holds: publishing touches only that topic's
/// subscribers, so 10,000 subscribers on other topics (or 100,000 idle topics) must not change its cost.
/// dotnet run -c Release --project Benchmarks/Micro -- --filter '*TopicBenchmarks*'</summary>
[MemoryDiagnoser]
public class TopicBenchmarks
{
    private readonly ServerEvent _event = new(data: "{\"note\":\"you have mail\"}");
    private EventHub _hub = null!;
    private IAsyncEnumerator<ServerEvent> _reader = null!;
    private readonly List<IAsyncEnumerator<ServerEvent>> _others = [];

    /// <summary>Subscribers on other topics (one topic each).</summary>
    [Params(0, 10_000)]
    public int OtherSubscribers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _hub = new EventHub(replay: 16, bufferSize: 1024);
        for (var i = 0; i < OtherSubscribers; i++) _others.Add(_hub.Subscribe([$"users/{i}"]).GetAsyncEnumerator());
        _reader = _hub.Subscribe(["users/me"]).GetAsyncEnumerator();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var other in _others) other.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Publish to the one-subscriber topic and take the event (the subscriber's read completes at once).</summary>
    [Benchmark]
    public string? PublishToOneSubscriberTopic()
    {
        _hub.Publish("users/me", _event);
        var next = _reader.MoveNextAsync();
        return next.IsCompleted && next.Result ? _reader.Current.Id : null;
    }
}
