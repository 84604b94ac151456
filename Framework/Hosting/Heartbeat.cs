namespace Bocata;

/// <summary>Something the heartbeat visits: an open event stream that may need a ping or has a flush stuck too long.</summary>
internal interface IHeartbeatClient
{
    /// <summary>Called on a timer thread. Must only signal the stream's owner (never write to the response itself).</summary>
    void OnHeartbeat(long nowMs);

    /// <summary>The node that links this client into the heartbeat's list (owned by <see cref="Heartbeat"/>).</summary>
    HeartbeatNode? HeartbeatNode { get; set; }
}

/// <summary>A link in the heartbeat's intrusive list: O(1) to add and remove, no per-tick allocation.</summary>
internal sealed class HeartbeatNode(IHeartbeatClient client)
{
    public IHeartbeatClient Client { get; } = client;
    public HeartbeatNode? Previous { get; set; }
    public HeartbeatNode? Next { get; set; }
}

/// <summary>
/// One app-wide tick for every open stream, instead of a timer per stream: pings and stuck-flush checks are requested
/// from here, and the stream's own loop does the writing, so nothing can write to a response after its stream ended.
/// </summary>
internal sealed class Heartbeat : IDisposable
{
    private static readonly TimeSpan MaxPeriod = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MinPeriod = TimeSpan.FromMilliseconds(5);

    private readonly Lock _gate = new();
    private readonly Timer _timer;
    private HeartbeatNode? _first;
    private TimeSpan _period;
    private int _count;
    private int _ticking;

    public Heartbeat()
    {
        _period = MaxPeriod;
        _timer = new Timer(static state => ((Heartbeat)state!).Tick(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Adds a client; <paramref name="interval"/> is the shortest delay it must notice (a ping interval, a write timeout).</summary>
    public void Add(IHeartbeatClient client, TimeSpan interval)
    {
        var node = new HeartbeatNode(client);
        client.HeartbeatNode = node;
        var wanted = TimeSpan.FromTicks(Math.Clamp(interval.Ticks / 4, MinPeriod.Ticks, MaxPeriod.Ticks));
        lock (_gate)
        {
            node.Next = _first;
            if (_first is not null) _first.Previous = node;
            _first = node;
            var start = _count++ == 0;
            if (wanted < _period || start)
            {
                if (wanted < _period) _period = wanted;
                _timer.Change(_period, _period);
            }
        }
    }

    public void Remove(IHeartbeatClient client)
    {
        lock (_gate)
        {
            if (client.HeartbeatNode is not { } node) return;
            client.HeartbeatNode = null;
            if (node.Previous is not null) node.Previous.Next = node.Next;
            else _first = node.Next;
            if (node.Next is not null) node.Next.Previous = node.Previous;
            node.Previous = node.Next = null;
            if (--_count == 0)
            {
                _timer.Change(Timeout.Infinite, Timeout.Infinite);
                _period = MaxPeriod;
            }
        }
    }

    private void Tick()
    {
        // A tick still walking the list (a slow machine, thousands of streams) is not joined by the next one.
        if (Interlocked.Exchange(ref _ticking, 1) == 1) return;
        try
        {
            var now = Environment.TickCount64;
            lock (_gate)
            {
                // Clients only set a flag and wake their owner (continuations run asynchronously), so the walk is short.
                for (var node = _first; node is not null; node = node.Next) node.Client.OnHeartbeat(now);
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    public void Dispose() => _timer.Dispose();
}
