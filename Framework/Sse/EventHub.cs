using System.Buffers;
using System.Globalization;

namespace Bocata;

/// <summary>Broadcasts events to many subscribers, numbers them, and replays what a reconnecting client missed (<c>Last-Event-ID</c>).</summary>
/// <remarks>Each event is encoded once into a ring of frames; a subscriber is a cursor into that ring, not a queue of copies.
/// A subscriber that falls more than <c>bufferSize</c> events behind (or whose connection stops taking data) is disconnected
/// while everything it missed is still held: its stream ends, the browser reconnects with <c>Last-Event-ID</c> and resumes
/// exactly where it stopped, so publishing never waits on a slow reader and an eviction never loses an event.</remarks>
public sealed partial class EventHub
{
    private readonly Lock _gate = new();
    private readonly HubFrame?[] _ring;
    private readonly int _replay;
    private readonly int _bufferSize;
    // Positions whose following frames are kept beyond the replay window: where evicted subscribers stopped (less a margin
    // for what was still in flight) and where resumes started. Their resumes are exact while the ring holds those frames.
    private readonly SortedSet<long> _evictedAt = [];
    private readonly SortedDictionary<long, int> _resumingFrom = [];
    private readonly Dictionary<string, long> _ownIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _idempotency = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, long Seq)> _idempotencyOrder = new();
    private readonly Stack<int> _freeSlots = new();
    private ArrayBufferWriter<byte> _encoder = new(256);
    private HubSubscription?[] _slots = new HubSubscription?[16];
    private int _slotsUsed;
    private int _count;
    private readonly IEventBackplane? _backplane;
    private readonly Dictionary<(long, long), Task<HubFrame[]>> _historyReads = [];
    private long _head;
    // Numbers a backplane skipped for good (trimmed, or an entry it could not decode), while the ring spans them: rare,
    // so copied on write and read without the lock.
    private (long From, long To)[] _gaps = [];
    private long _localOldest = 1;
    private long _retainedFrom = 1;
    private long _ringBytes;
    private long _evictions;
    private volatile bool _completed;

    /// <summary>Creates a hub keeping the last <paramref name="replay"/> events for resumption and letting a subscriber fall at most
    /// <paramref name="bufferSize"/> events behind. With a <paramref name="backplane"/> (e.g. <c>RedisBackplane</c>), every instance
    /// on it is one hub: publish with <see cref="PublishAsync(ServerEvent, CancellationToken)"/>.</summary>
    public EventHub(int replay = 1000, int bufferSize = 1024, IEventBackplane? backplane = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(replay);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _replay = replay;
        _bufferSize = bufferSize;
        // The newest max(replay, bufferSize) + 1 frames are always held (a subscriber is evicted at bufferSize behind, while
        // its next frame is still here); the ring has room for as many again, used only for frames an evicted or resuming
        // subscriber still needs: it resumes exactly if it comes back within max(replay, bufferSize) more events.
        _ring = new HubFrame?[2 * Math.Max(replay, bufferSize) + 1];
        if (backplane is not null)
        {
            _backplane = backplane;
            // Under the lock: the backplane may deliver as soon as it is attached, and those events wait for the head it returns.
            lock (_gate)
            {
                _head = backplane.Attach(new BackplaneSink(this));
                _localOldest = _head + 1;
                _retainedFrom = _localOldest;
            }
        }
    }

    /// <summary>At most this many bytes of events are kept for replay and slow readers (default 64 MB); past it the oldest go first.</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>At most this many bytes of events are sent to one resuming client before its stream ends (default 4 MB); it
    /// reconnects with the last id it got and continues exactly, so one small request can never pull the whole window at once.</summary>
    public long MaxReplayBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>The number of live subscribers.</summary>
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <summary>How many subscribers were disconnected because they could not keep up.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>The sequence number of the last published event (0 before the first).</summary>
    public long LastSequence => Volatile.Read(ref _head);

    internal bool IsCompleted => _completed;

    /// <summary>How far behind a live subscriber may fall before it is evicted.</summary>
    internal int BufferSize => _bufferSize;

    /// <summary>How many of the newest frames are always held: the replay window, and one more than a live subscriber's
    /// allowed lag, so a subscriber is evicted while its next frame is still here.</summary>
    private long Keep => Math.Max(_replay, _bufferSize) + 1L;

    /// <summary>The ring's length: a subscriber whose next frame is about to leave it is evicted whatever its state.</summary>
    internal long RingLength => _ring.Length;

    /// <summary>What the held frames cost (what <see cref="MaxBytes"/> bounds).</summary>
    internal long RetainedBytes
    {
        get
        {
            lock (_gate) return _ringBytes;
        }
    }

    /// <summary>Sends <paramref name="evt"/> to every subscriber. An event without an id gets the next number of the hub's sequence. Never blocks on readers.</summary>
    /// <exception cref="InvalidOperationException">The hub was completed, or it is shared through a backplane (use <see cref="PublishAsync(ServerEvent, CancellationToken)"/>).</exception>
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

    /// <summary>Publishes <paramref name="evt"/> at most once per <paramref name="idempotencyKey"/> (a key of yours, e.g. the id of the
    /// message or reading it carries): a publish whose key was already published returns the first event's id and sends nothing,
    /// so a publish that failed with a timeout — which may still have been applied — can be retried without a duplicate. Keys are
    /// remembered while their event is held (in memory) or for the backplane's idempotency window (RedisBackplane: 10 minutes).</summary>
    public async Task<ServerEvent> PublishAsync(ServerEvent evt, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        if (idempotencyKey.Length > 256) throw new ArgumentException("An idempotency key has at most 256 characters; use a hash of a longer one.", nameof(idempotencyKey));
        if (_backplane is null)
        {
            ServerEvent published;
            lock (_gate)
            {
                if (_idempotency.TryGetValue(idempotencyKey, out var first) && FrameAt(first) is { } frame) return frame.Event;
                if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
                var seq = _head + 1;
                published = Append(seq, evt);
                _idempotency[idempotencyKey] = seq;
                _idempotencyOrder.Enqueue((idempotencyKey, seq));
                // Keys are kept while their event is held.
                while (_idempotencyOrder.TryPeek(out var oldest) && (oldest.Seq < _retainedFrom || _idempotencyOrder.Count > _ring.Length))
                {
                    _idempotencyOrder.Dequeue();
                    if (_idempotency.TryGetValue(oldest.Key, out var at) && at == oldest.Seq) _idempotency.Remove(oldest.Key);
                }
            }
            WakeAll();
            return published;
        }
        if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
        var number = await _backplane.PublishAsync(evt, idempotencyKey, cancellationToken);
        return evt.Id is null ? evt.WithId(number.ToString(CultureInfo.InvariantCulture)) : evt;
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
        // After a gap in the numbers (a backplane that skipped some), frames the new head's window no longer covers are forgotten.
        if (seq != _head + 1) ForgetBefore(seq - _ring.Length + 1);
        ref var slot = ref _ring[seq % _ring.Length];
        if (slot is { } old) Forget(old);
        Volatile.Write(ref slot, frame);
        _ringBytes += frame.Size;
        if (frame.OwnId) _ownIds[evt.Id!] = seq;
        Volatile.Write(ref _head, seq);
        Retain(seq - _ring.Length + 1);
        // Past the replay window (and a live subscriber's allowed lag), a frame is kept only while an evicted or resuming
        // subscriber may still need it: memory is what was asked for, plus that headroom only when it is used.
        var expired = seq - Keep;
        if (expired >= _retainedFrom && expired <= ProtectedFloor())
            while (_retainedFrom <= expired) Drop(_retainedFrom);
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
            Forget(old);
            Volatile.Write(ref slot, null);
        }
        Retain(seq + 1);
    }

    /// <summary>Forgets every held frame numbered below <paramref name="seq"/>. O(ring), only after a gap in the numbers.</summary>
    private void ForgetBefore(long seq)
    {
        for (var i = 0; i < _ring.Length; i++)
        {
            if (_ring[i] is { } old && old.Seq < seq)
            {
                Forget(old);
                Volatile.Write(ref _ring[i], null);
            }
        }
        Retain(seq);
    }

    /// <summary>A held frame leaves the ring: its bytes and its own id go with it.</summary>
    private void Forget(HubFrame old)
    {
        _ringBytes -= old.Size;
        if (old.OwnId && _ownIds.TryGetValue(old.Event.Id!, out var at) && at == old.Seq) _ownIds.Remove(old.Event.Id!);
    }

    /// <summary>Nothing below <paramref name="seq"/> is held any more.</summary>
    private void Retain(long seq)
    {
        if (seq <= _retainedFrom) return;
        _retainedFrom = seq;
        if (_localOldest < _retainedFrom && _backplane is not null) _localOldest = _retainedFrom;
    }

    /// <summary>Encoded once here; every subscriber writes these same bytes. An event without an id gets the hub's number <paramref name="seq"/>; a publisher's own id is kept and marked as such.</summary>
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

    /// <summary>Subscribes for the request: replays what its <c>Last-Event-ID</c> (or, without that header, its <c>lastEventId</c>
    /// query parameter, for an <c>EventSource</c> the page had to re-create) missed, then streams live events until the client leaves.</summary>
    /// <remarks>The subscription belongs to the request: it is removed when the request ends, even if it was never read (HEAD, an exception, a replaced body).</remarks>
    public IAsyncEnumerable<ServerEvent> Subscribe(Request req)
    {
        ArgumentNullException.ThrowIfNull(req);
        var subscription = Add(req.LastEventId ?? req.QueryParams["lastEventId"], req.Aborted);
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
            var start = Start(lastEventId);
            // A resume keeps what it is about to read until it has caught up, so publishing meanwhile cannot drop it from under it.
            var anchor = start.Cursor < _head && Protect(Math.Max(start.Cursor, start.FromHistory ? _localOldest - 1 : 0), out var at) ? at : -1;
            subscription = start.FromHistory
                ? new HubSubscription(this, _localOldest - 1, _head, anchor, ReadHistoryAsync(start.Cursor + 1, _localOldest - 1), start.ResolveId, start.Cursor)
                : new HubSubscription(this, start.Cursor, _head, anchor);
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

    /// <summary>Counts an eviction and remembers where the subscriber stopped, so its resume is served exactly.</summary>
    internal void CountEviction(long cursor)
    {
        Interlocked.Increment(ref _evictions);
        Telemetry.HubEvictions.Add(1);
        // Its stream ends after what it was already given (nothing in flight is cut), so its resume starts at the cursor.
        lock (_gate)
        {
            if (cursor + 1 >= _retainedFrom && cursor < _head) _evictedAt.Add(Math.Max(0, cursor));
        }
    }

    /// <summary>A resume from <paramref name="position"/>: frames after it stay held beyond the replay window until it has
    /// caught up or ended (<see cref="Release"/>), or the ring wraps past them. Under the lock. False when nothing was protected.</summary>
    private bool Protect(long position, out long protectedAt)
    {
        protectedAt = position = Math.Max(0, position);
        if (position + 1 < _retainedFrom || position >= _head) return false;
        _resumingFrom[position] = _resumingFrom.GetValueOrDefault(position) + 1;
        return true;
    }

    /// <summary>A resume that caught up (or ended) lets go of the backlog it protected.</summary>
    internal void Release(long position)
    {
        lock (_gate)
        {
            if (!_resumingFrom.TryGetValue(position, out var count)) return;
            if (count > 1) _resumingFrom[position] = count - 1;
            else _resumingFrom.Remove(position);
        }
    }

    /// <summary>The oldest position whose following frames must stay held (long.MaxValue: none). Under the lock. Where an
    /// evicted subscriber stopped counts until the ring wraps past it (it resumes soon or not at all); a resume in progress
    /// counts until it releases it, however far it has read since (it reads from the oldest held frame on at worst).</summary>
    private long ProtectedFloor()
    {
        while (_evictedAt.Count > 0 && _evictedAt.Min + 1 < _retainedFrom) _evictedAt.Remove(_evictedAt.Min);
        var floor = _evictedAt.Count > 0 ? _evictedAt.Min : long.MaxValue;
        if (_resumingFrom.Count > 0) floor = Math.Min(floor, Math.Max(_resumingFrom.First().Key, _retainedFrom - 1));
        return floor;
    }

    /// <summary>The next frame after <paramref name="cursor"/>, stepping over numbers the backplane skipped for good; null once
    /// the ring has dropped it (the subscriber is too far behind).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal HubFrame? FrameAfter(long cursor)
    {
        if (FrameAt(cursor + 1) is { } frame) return frame;
        foreach (var (from, to) in Volatile.Read(ref _gaps))
            if (cursor + 1 >= from && cursor + 1 <= to) return FrameAt(to + 1);
        return null;
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

    /// <summary>Where a subscription starts: after <see cref="Cursor"/>; with <see cref="FromHistory"/>, the backplane's history
    /// from <c>Cursor + 1</c> to this instance's oldest frame comes first, and <see cref="ResolveId"/> (when set) is looked up in it.</summary>
    private readonly record struct StartAt(long Cursor, bool FromHistory = false, string? ResolveId = null);

    /// <summary>The oldest number a resume may start from: the last <c>replay</c> events, or older where an evicted subscriber
    /// stopped and the ring still holds what followed.</summary>
    private long WindowOldest()
    {
        var oldest = Math.Max(1, _head - _replay + 1);
        var floor = ProtectedFloor();
        if (floor != long.MaxValue) oldest = Math.Min(oldest, Math.Max(floor + 1, _retainedFrom));
        // On one instance, what the byte budget dropped is gone; across instances the backplane's history still has it.
        if (_backplane is null) oldest = Math.Max(oldest, _retainedFrom);
        return oldest;
    }

    /// <summary>Where a subscriber with <paramref name="lastEventId"/> starts. O(1) on one instance: hub numbers index the ring,
    /// publishers' own ids a map. Ids that cannot be this hub's (negative, malformed, far beyond the head) start live; an unknown
    /// or too old one gets the window.</summary>
    private StartAt Start(string? lastEventId)
    {
        if (lastEventId is null) return new(_head);
        var oldest = WindowOldest();
        if (_ownIds.TryGetValue(lastEventId, out var own) && own >= oldest) return new(own);
        var isNumber = long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var n);
        if (!isNumber && LooksNumeric(lastEventId)) return new(_head);
        if (isNumber && n > _head)
        {
            // Across instances, another instance may be a few events ahead of this one: start after that number, not before.
            return new(_backplane is not null && n - _head <= _bufferSize ? n : _head);
        }
        // Older than this instance's ring: the backplane's history says whether the id names a hub number or an own id there,
        // so a resume means the same on every instance. One coalesced read of the window serves every such client.
        if (_backplane is not null && oldest < _localOldest && (!isNumber || n < _localOldest))
            return new(oldest - 1, FromHistory: true, ResolveId: isNumber && n < oldest - 1 ? null : lastEventId);
        // A number is the hub's only if the frame it names carries it: a publisher's own id "7" is not hub number 7.
        if (isNumber && n >= oldest - 1 && (n == oldest - 1 || FrameAt(n) is { OwnId: false })) return new(n);
        return _backplane is not null && oldest < _localOldest ? new(oldest - 1, FromHistory: true) : new(oldest - 1);
    }

    /// <summary>An optional sign then digits: a number, if not one this hub could have given.</summary>
    private static bool LooksNumeric(string id)
    {
        var digits = id.AsSpan(id.Length > 0 && id[0] is '-' or '+' ? 1 : 0);
        return !digits.IsEmpty && !digits.ContainsAnyExceptInRange('0', '9');
    }
}

/// <summary>One published event and its wire bytes, encoded once.</summary>
internal sealed record HubFrame(long Seq, ServerEvent Event, byte[] Bytes, bool OwnId)
{
    /// <summary>What keeping this frame costs: its bytes and its event's text (UTF-16).</summary>
    public long Size { get; } = Bytes.Length + 2L * ((Event.Data?.Length ?? 0) + (Event.Comment?.Length ?? 0)) + 64;
}
