using System.Buffers;
using System.Globalization;

namespace Bocata;

/// <summary>Broadcasts events to many subscribers, numbers them, and replays what a reconnecting client missed (<c>Last-Event-ID</c>).</summary>
/// <remarks>Each event is encoded once into a ring of frames; a subscriber is a cursor into that ring, not a queue of copies.
/// A subscriber that falls more than <c>bufferSize</c> events behind (or whose connection stops taking data) is disconnected:
/// its stream ends, the browser reconnects and resumes from the replay window, so publishing never waits on a slow reader.</remarks>
public sealed partial class EventHub
{
    private readonly Lock _gate = new();
    private readonly HubFrame?[] _ring;
    private readonly int _replay;
    private readonly Dictionary<string, long> _ownIds = new(StringComparer.Ordinal);
    private readonly Stack<int> _freeSlots = new();
    private ArrayBufferWriter<byte> _encoder = new(256);
    private HubSubscription?[] _slots = new HubSubscription?[16];
    private int _slotsUsed;
    private int _count;
    private readonly IEventBackplane? _backplane;
    private readonly Dictionary<(long, long), Task<HubFrame[]>> _historyReads = [];
    private long _head;
    private long _localOldest = 1;
    private long _retainedFrom = 1;
    private long _ringBytes;
    private long _evictions;
    private volatile bool _completed;

    /// <summary>Creates a hub keeping the last <paramref name="replay"/> events for resumption and letting a subscriber fall at most
    /// <paramref name="bufferSize"/> events behind. With a <paramref name="backplane"/> (e.g. <c>RedisBackplane</c>), every instance
    /// on it is one hub: publish with <see cref="PublishAsync"/>.</summary>
    public EventHub(int replay = 1000, int bufferSize = 1024, IEventBackplane? backplane = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(replay);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _replay = replay;
        // Exactly as many frames as anyone may need (a resume window, or a subscriber's lag), so memory is what was asked for.
        // A subscriber whose next frame the ring no longer holds is too far behind, and is evicted.
        _ring = new HubFrame?[Math.Max(replay, bufferSize)];
        if (backplane is not null)
        {
            _backplane = backplane;
            _head = backplane.Attach(new BackplaneSink(this));
            _localOldest = _head + 1;
        }
    }

    /// <summary>At most this many bytes of events are kept for replay and slow readers (default 64 MB); past it the oldest go first.</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>The number of live subscribers.</summary>
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <summary>How many subscribers were disconnected because they could not keep up.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>The sequence number of the last published event (0 before the first).</summary>
    public long LastSequence => Volatile.Read(ref _head);

    internal bool IsCompleted => _completed;

    /// <summary>Sends <paramref name="evt"/> to every subscriber. An event without an id gets the next number of the hub's sequence. Never blocks on readers.</summary>
    /// <exception cref="InvalidOperationException">The hub was completed, or it is shared through a backplane (use <see cref="PublishAsync"/>).</exception>
    public ServerEvent Publish(ServerEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (_backplane is not null)
            throw new InvalidOperationException("This EventHub is shared across instances through a backplane: publish with `await hub.PublishAsync(evt)`, which returns once every instance can see the event.");
        lock (_gate)
        {
            if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
            evt = Append(_head + 1, evt);
        }
        WakeAll();
        return evt;
    }

    /// <summary>Publishes <paramref name="evt"/> and returns it with its id (the hub's number when it had none). The way to publish on every hub,
    /// including one shared across instances: then it completes once the backplane has numbered and retained the event, and fails
    /// (within the backplane's timeout) when it cannot.</summary>
    public async Task<ServerEvent> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (_backplane is null) return Publish(evt);
        if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
        var seq = await _backplane.PublishAsync(evt, cancellationToken);
        return evt.Id is null ? evt.WithId(seq.ToString(CultureInfo.InvariantCulture)) : evt;
    }

    /// <summary>Numbers, encodes and stores one event as frame <paramref name="seq"/>. Under the lock; the caller wakes subscribers.</summary>
    private ServerEvent Append(long seq, ServerEvent evt)
    {
        var frame = Encode(seq, evt);
        evt = frame.Event;
        Drop(seq - _ring.Length);
        Volatile.Write(ref _ring[seq % _ring.Length], frame);
        _ringBytes += frame.Size;
        if (frame.OwnId) _ownIds[evt.Id!] = seq;
        Volatile.Write(ref _head, seq);
        // Bounded by bytes as well as by count: the oldest frames go first, the newest always stays.
        while (_ringBytes > MaxBytes && _retainedFrom < seq) Drop(_retainedFrom);
        return evt;
    }

    /// <summary>Forgets frame <paramref name="seq"/> (and every older one): subscribers still needing it are evicted and resume.</summary>
    private void Drop(long seq)
    {
        if (seq < _retainedFrom) return;
        ref var slot = ref _ring[seq % _ring.Length];
        if (slot is { } old && old.Seq == seq)
        {
            _ringBytes -= old.Size;
            if (old.OwnId && _ownIds.TryGetValue(old.Event.Id!, out var at) && at == seq) _ownIds.Remove(old.Event.Id!);
            Volatile.Write(ref slot, null);
        }
        _retainedFrom = seq + 1;
        if (_localOldest < _retainedFrom && _backplane is not null) _localOldest = _retainedFrom;
    }

    /// <summary>Encoded once here; every subscriber writes these same bytes.</summary>
    /// <summary>An event without an id gets the hub's number <paramref name="seq"/>; a publisher's own id is kept and marked as such.</summary>
    private HubFrame Encode(long seq, ServerEvent evt)
    {
        var ownId = evt.Id is not null;
        if (!ownId) evt = evt.WithId(seq.ToString(CultureInfo.InvariantCulture));
        _encoder.ResetWrittenCount();
        evt.WriteTo(_encoder);
        var frame = new HubFrame(seq, evt, _encoder.WrittenSpan.ToArray(), ownId);
        // Clear() would keep a huge buffer's capacity: after a large event, let it go.
        if (_encoder.Capacity > 64 * 1024) _encoder = new ArrayBufferWriter<byte>(256);
        return frame;
    }

    /// <summary>Subscribes for the request: replays what its <c>Last-Event-ID</c> missed, then streams live events until the client leaves.</summary>
    /// <remarks>The subscription belongs to the request: it is removed when the request ends, even if it was never read (HEAD, an exception, a replaced body).</remarks>
    public IAsyncEnumerable<ServerEvent> Subscribe(Request req)
    {
        ArgumentNullException.ThrowIfNull(req);
        var subscription = Add(req.LastEventId, req.Aborted);
        req.Context.DisposeAtEnd(subscription);
        return subscription;
    }

    /// <summary>Subscribes now: events after <paramref name="lastEventId"/> still in the replay window come first (all of it when the id is unknown or older), then live events.</summary>
    public IAsyncEnumerable<ServerEvent> Subscribe(string? lastEventId = null, CancellationToken cancellationToken = default) =>
        Add(lastEventId, cancellationToken);

    /// <summary>Ends every subscription (their streams finish after what was already published) and refuses further publishing.</summary>
    public void Complete()
    {
        lock (_gate) _completed = true;
        WakeAll();
    }

    private HubSubscription Add(string? lastEventId, CancellationToken cancellationToken)
    {
        HubSubscription subscription;
        lock (_gate)
        {
            // Registered at once, at a fixed cursor, so nothing published between the handler and the first write is lost.
            // Events older than this instance's ring come from the backplane's history first: no gap, no duplicate.
            var cursor = StartCursor(lastEventId);
            var history = cursor < _localOldest - 1 ? ReadHistoryAsync(cursor + 1, _localOldest - 1) : null;
            subscription = new HubSubscription(this, Math.Max(cursor, _localOldest - 1), history);
            if (!_completed)
            {
                var index = _freeSlots.Count > 0 ? _freeSlots.Pop() : _slotsUsed++;
                if (index == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
                subscription.Slot = index;
                Volatile.Write(ref _slots[index], subscription);
                _count++;
                Telemetry.HubSubscribers.Add(1);
            }
        }
        subscription.Watch(cancellationToken);
        return subscription;
    }

    /// <summary>O(1): the subscription's slot is cleared and reused.</summary>
    internal void Remove(HubSubscription subscription)
    {
        lock (_gate)
        {
            var index = subscription.Slot;
            if (index < 0 || _slots[index] != subscription) return;
            Volatile.Write(ref _slots[index], null);
            subscription.Slot = -1;
            _freeSlots.Push(index);
            _count--;
            Telemetry.HubSubscribers.Add(-1);
        }
    }

    internal void CountEviction()
    {
        Interlocked.Increment(ref _evictions);
        Telemetry.HubEvictions.Add(1);
    }

    /// <summary>The frame numbered <paramref name="seq"/>, or null once the ring has overwritten it.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal HubFrame? FrameAt(long seq)
    {
        var frame = Volatile.Read(ref _ring[seq % _ring.Length]);
        return frame is not null && frame.Seq == seq ? frame : null;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void WakeAll()
    {
        // Orders the head written above before each subscriber's state is read (see HubSubscription's attach).
        Interlocked.MemoryBarrier();
        var slots = Volatile.Read(ref _slots);
        var used = Math.Min(Volatile.Read(ref _slotsUsed), slots.Length);
        for (var i = 0; i < used; i++) Volatile.Read(ref slots[i])?.Wake();
    }

    /// <summary>The sequence number after which a subscriber starts. O(1): hub numbers index the ring, publishers' own ids a map.</summary>
    private long StartCursor(string? lastEventId)
    {
        if (lastEventId is null) return _head;
        var oldest = Math.Max(1, _head - _replay + 1);
        // On one instance, what the byte budget dropped is gone; across instances the backplane's history still has it.
        if (_backplane is null) oldest = Math.Max(oldest, _retainedFrom);
        if (_ownIds.TryGetValue(lastEventId, out var own) && own >= oldest) return own;
        // A number is the hub's only if the frame it names carries it: a publisher's own id "7" is not hub number 7.
        // Numbers older than this instance's ring (another instance sent them) are checked against the backplane's history instead.
        if (long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= oldest - 1 && n <= _head
            && (n < _localOldest || FrameAt(n) is { OwnId: false }))
            return n;
        return oldest - 1;
    }
}

/// <summary>One published event and its wire bytes, encoded once.</summary>
internal sealed record HubFrame(long Seq, ServerEvent Event, byte[] Bytes, bool OwnId)
{
    /// <summary>What keeping this frame costs: its bytes and its event's text (UTF-16).</summary>
    public long Size { get; } = Bytes.Length + 2L * ((Event.Data?.Length ?? 0) + (Event.Comment?.Length ?? 0)) + 64;
}
