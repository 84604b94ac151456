// The minimal API side's broadcaster, shared by Benchmarks/Load/MinimalApi and Benchmarks/Aot/MinimalAot.
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

/// <summary>The same bounded fan-out as Bocata's EventHub, so the SSE scale run compares like with like.</summary>
internal sealed class Broadcaster
{
    private readonly Lock _gate = new();
    private readonly List<Channel<string>> _subscribers = [];

    public int Count
    {
        get
        {
            lock (_gate) return _subscribers.Count;
        }
    }

    public void Publish(string data)
    {
        lock (_gate)
        {
            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                if (_subscribers[i].Writer.TryWrite(data)) continue;
                _subscribers[i].Writer.TryComplete();
                _subscribers.RemoveAt(i);
            }
        }
    }

    public async IAsyncEnumerable<SseItem<string>> Subscribe([EnumeratorCancellation] CancellationToken ct = default)
    {
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(64) { SingleReader = true });
        lock (_gate) _subscribers.Add(channel);
        try
        {
            await foreach (var data in channel.Reader.ReadAllAsync(ct))
                yield return new SseItem<string>(data);
        }
        finally
        {
            lock (_gate) _subscribers.Remove(channel);
        }
    }
}
