using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Bocata;

/// <summary>Broadcasts events to many subscribers, numbers them, and replays what a reconnecting client missed (<c>Last-Event-ID</c>).</summary>
/// <remarks>Every subscriber gets every event in order through a bounded queue; a subscriber whose queue is full is disconnected
/// (its stream ends, the browser reconnects and resumes from the replay buffer), so publishing never waits on a slow reader.</remarks>
public sealed class EventHub
{
    private readonly Lock _gate = new();
    private readonly (long Seq, ServerEvent Event)[] _ring;
    private readonly int _bufferSize;
    private readonly List<Subscriber> _subscribers = [];
    private long _seq;
    private bool _completed;

    /// <summary>Creates a hub keeping the last <paramref name="replay"/> events for resumption and at most <paramref name="bufferSize"/> undelivered events per subscriber.</summary>
    public EventHub(int replay = 1000, int bufferSize = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(replay);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _ring = new (long, ServerEvent)[replay];
        _bufferSize = bufferSize;
    }

    /// <summary>The number of live subscribers.</summary>
    public int SubscriberCount
    {
        get
        {
            lock (_gate) return _subscribers.Count;
        }
    }

    /// <summary>How many subscribers were disconnected because they could not keep up.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);
    private long _evictions;

    /// <summary>The sequence number of the last published event (0 before the first).</summary>
    public long LastSequence
    {
        get
        {
            lock (_gate) return _seq;
        }
    }

    /// <summary>Sends <paramref name="evt"/> to every subscriber. An event without an id gets the next number of the hub's sequence. Never blocks on readers.</summary>
    public ServerEvent Publish(ServerEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        lock (_gate)
        {
            if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
            var seq = ++_seq;
            if (evt.Id is null) evt = evt.WithId(seq.ToString(CultureInfo.InvariantCulture));
            if (_ring.Length > 0) _ring[(seq - 1) % _ring.Length] = (seq, evt);
            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var subscriber = _subscribers[i];
                if (subscriber.Queue.Writer.TryWrite(evt)) continue;
                // Full queue: this reader cannot keep up. End its stream rather than grow memory; it resumes with Last-Event-ID.
                subscriber.Queue.Writer.TryComplete();
                _subscribers.RemoveAt(i);
                Interlocked.Increment(ref _evictions);
            }
            return evt;
        }
    }

    /// <summary>Subscribes for the request: replays what its <c>Last-Event-ID</c> missed, then streams live events until the client leaves.</summary>
    public IAsyncEnumerable<ServerEvent> Subscribe(Request req)
    {
        ArgumentNullException.ThrowIfNull(req);
        return Subscribe(req.LastEventId, req.Aborted);
    }

    /// <summary>Subscribes now: events after <paramref name="lastEventId"/> still in the replay buffer come first (all of it when the id is older than the buffer), then live events.</summary>
    public IAsyncEnumerable<ServerEvent> Subscribe(string? lastEventId = null, CancellationToken cancellationToken = default)
    {
        var subscriber = new Subscriber(_bufferSize);
        ServerEvent[] backlog;
        lock (_gate)
        {
            backlog = lastEventId is null ? [] : ReplayAfter(lastEventId);
            if (_completed) subscriber.Queue.Writer.TryComplete();
            else _subscribers.Add(subscriber);
        }
        // Registered at once (not on first read) so nothing published between the handler and the first write is lost.
        subscriber.Registration = cancellationToken.Register(() => Remove(subscriber));
        return ReadAsync(subscriber, backlog, cancellationToken);
    }

    /// <summary>Ends every subscription (their streams finish) and refuses further publishing.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            foreach (var subscriber in _subscribers) subscriber.Queue.Writer.TryComplete();
            _subscribers.Clear();
        }
    }

    private async IAsyncEnumerable<ServerEvent> ReadAsync(Subscriber subscriber, ServerEvent[] backlog, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            foreach (var evt in backlog)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return evt;
            }
            var reader = subscriber.Queue.Reader;
            while (await reader.WaitToReadAsync(cancellationToken))
            {
                while (reader.TryRead(out var evt)) yield return evt;
            }
        }
        finally
        {
            Remove(subscriber);
        }
    }

    private void Remove(Subscriber subscriber)
    {
        lock (_gate) _subscribers.Remove(subscriber);
        subscriber.Queue.Writer.TryComplete();
        subscriber.Registration.Dispose();
    }

    private ServerEvent[] ReplayAfter(string lastEventId)
    {
        var count = (int)Math.Min(_seq, _ring.Length);
        if (count == 0) return [];
        var oldest = _seq - count + 1;
        long from = oldest;
        var found = false;
        for (var seq = _seq; seq >= oldest; seq--)
        {
            if (_ring[(seq - 1) % _ring.Length].Event.Id == lastEventId)
            {
                from = seq + 1;
                found = true;
                break;
            }
        }
        if (!found && long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= _seq)
            from = Math.Max(n + 1, oldest);
        var result = new ServerEvent[_seq - from + 1];
        for (var seq = from; seq <= _seq; seq++) result[seq - from] = _ring[(seq - 1) % _ring.Length].Event;
        return result;
    }

    private sealed class Subscriber(int capacity)
    {
        public Channel<ServerEvent> Queue { get; } = Channel.CreateBounded<ServerEvent>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });

        public CancellationTokenRegistration Registration { get; set; }
    }
}
