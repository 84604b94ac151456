namespace Bocata;

/// <summary>
/// One topic of an <see cref="EventHub"/>: its frames in a ring indexed by the topic's own count (1, 2, 3, … for its events;
/// each frame also carries the hub's number), and the subscribers reading it. The ring starts small and doubles with what
/// it holds, up to twice the larger of <c>replay</c> and <c>bufferSize</c>, plus one; memory is what the topic holds.
/// Every change happens under the hub's lock; subscribers read frames without it.
/// </summary>
internal sealed class TopicRing
{
    private readonly EventHub _hub;
    // The frames: null (none yet), one HubFrame (a ring of one: what most topics hold, without an array), or a HubFrame?[]
    // indexed by the topic's count modulo its length.
    private object? _frames;
    private long _head;
    private long _retainedFrom = 1;
    // On a hub without a backplane: the hub number after which this ring has every event of its topic (what it dropped, or
    // what a forgotten ring of the same name may have held).
    private long _completeAfter;
    // Rarely needed (own ids, evictions, resumes, freed slots): apart, so an idle topic costs less. On a hub with a backplane
    // it is a Remote from the start (the backplane's bookkeeping too).
    private Extras? _extras;
    private HubSubscription?[]? _slots;
    private int _slotsUsed;

    public TopicRing(EventHub hub, string name, bool remote = false)
    {
        _hub = hub;
        Name = name;
        if (remote) _extras = new Remote();
    }

    private Remote? RemoteState => _extras as Remote;

    /// <summary>How many frames the ring holds before it grows (or overwrites its oldest): one until it needs an array.</summary>
    private int Capacity => _frames is HubFrame?[] frames ? frames.Length : 1;

    /// <summary>The topic ("" for the hub's default topic).</summary>
    public string Name { get; }

    /// <summary>The topic's count of the newest frame (0 before the first).</summary>
    public long Head => Volatile.Read(ref _head);

    /// <summary>The topic's count of the oldest frame held.</summary>
    public long RetainedFrom => _retainedFrom;

    /// <summary>The ring's greatest length: a subscriber whose next frame is about to leave it is evicted whatever its state.
    /// Room for the newest max(replay, bufferSize) + 1 frames, and as many again for evicted and resuming subscribers.</summary>
    public long MaxCapacity => 2L * Math.Max(_hub.Replay, _hub.BufferSize) + 2;

    /// <summary>How many of the newest frames are always held: the window, and the last frame a subscriber evicted at
    /// bufferSize behind was given (so its resume finds that id, a publisher's own id too).</summary>
    private long Keep => Math.Max(_hub.Replay, _hub.BufferSize) + 2L;

    public int SubscriberCount => _slotsUsed - (_extras?.FreeSlots?.Count ?? 0);

    /// <summary>When the topic last had a publish or a subscriber (Environment.TickCount64), for retention.</summary>
    public long LastActive { get; set; }

    /// <summary>Whether the hub's idle queue holds this topic.</summary>
    public bool QueuedIdle { get; set; }

    /// <summary>Whether the hub forgot this topic (idle past retention).</summary>
    public bool Forgotten { get; set; }

    /// <summary>The hub's number of the newest frame ever appended to this ring (0 before the first): on a hub with a backplane,
    /// set by the backplane's deliveries; in memory, by <see cref="Append"/>.</summary>
    public long LastSeq
    {
        // In memory, without a field (a topic's bytes are counted): the newest frame, or, once it left, the newest number this
        // ring dropped (CompleteAfter: frames leave oldest first, and a ring's numbers are above what it started complete after).
        get => RemoteState?.LastSeq ?? (Head == 0 ? 0 : FrameAt(Head)?.Seq ?? CompleteAfter);
        set => RemoteState!.LastSeq = value;
    }

    /// <summary><see cref="LastSeq"/> on a hub with a backplane; 0 in memory (where a ring's window says what it holds).</summary>
    public long RemoteLastSeq => RemoteState?.LastSeq ?? 0;

    /// <summary>On a backplane that listens by topic: whether this instance asked for the topic's events.</summary>
    public bool Listening
    {
        get => RemoteState?.Listening ?? false;
        set => RemoteState!.Listening = value;
    }

    /// <summary>Whether every event of the topic up to the hub's ordered head is here: a stream reading it waits while it is not
    /// (the backplane is catching up), so no stream takes a number before an older one.</summary>
    public bool Ready
    {
        get => RemoteState?.Ready ?? true;
        set => RemoteState!.Ready = value;
    }

    /// <summary>The hub number after which this ring has every event of the topic it retains. On a backplane that listens by
    /// topic, a resume from before it reads the backplane's history; on one instance, it is told `resync`.</summary>
    public long CompleteAfter
    {
        get => RemoteState?.CompleteAfter ?? _completeAfter;
        set
        {
            if (RemoteState is { } remote) remote.CompleteAfter = value;
            else _completeAfter = value;
        }
    }

    /// <summary>The hub number through which the backplane last caught this topic up (when it became <see cref="Ready"/>).</summary>
    public long ReadyAt
    {
        get => RemoteState?.ReadyAt ?? 0;
        set => RemoteState!.ReadyAt = value;
    }

    private sealed class Remote : Extras
    {
        public long LastSeq;
        public long CompleteAfter;
        public long ReadyAt;
        public bool Listening;
        public bool Ready = true;
    }

    private class Extras
    {
        public Dictionary<string, long>? OwnIds;
        // Local positions whose following frames are kept beyond the replay window: where evicted subscribers stopped (until
        // the ring wraps past them) and where resumes in progress started (until they catch up or end).
        public SortedSet<long>? EvictedAt;
        public SortedDictionary<long, int>? ResumingFrom;
        public Stack<int>? FreeSlots;
    }

    private Extras More => _extras ??= new Extras();

    /// <summary>The frame with the topic's count <paramref name="local"/>, or null when it is not held.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public HubFrame? FrameAt(long local)
    {
        var frames = Volatile.Read(ref _frames);
        if (In(frames, local) is { } frame) return frame;
        // The ring may have grown (or its one frame been replaced) since it was read: the frame is then in the new one.
        var now = Volatile.Read(ref _frames);
        return ReferenceEquals(now, frames) ? null : In(now, local);
    }

    private static HubFrame? In(object? frames, long local)
    {
        var frame = frames switch
        {
            HubFrame single => single,
            HubFrame?[] ring => Volatile.Read(ref ring[local % ring.Length]),
            _ => null,
        };
        return frame is not null && frame.Local == local ? frame : null;
    }

    /// <summary>Stores <paramref name="frame"/> (its Local is Head + 1). Under the hub's lock; the caller wakes subscribers.</summary>
    public void Append(HubFrame frame)
    {
        var local = frame.Local;
        var capacity = Capacity;
        if (local - _retainedFrom + 1 > capacity && capacity < MaxCapacity) capacity = Grow();
        if (_frames is HubFrame?[] frames)
        {
            ref var slot = ref frames[local % frames.Length];
            if (slot is { } old) Forget(old);
            Volatile.Write(ref slot, frame);
        }
        else
        {
            if (_frames is HubFrame old) Forget(old);
            Volatile.Write(ref _frames, frame);
        }
        if (frame.OwnId) (More.OwnIds ??= new(StringComparer.Ordinal))[frame.Source.Id!] = local;
        Volatile.Write(ref _head, local);
        if (RemoteState is { } remote) remote.LastSeq = frame.Seq;
        Retain(local - capacity + 1);
        // Past the replay window (and a live subscriber's allowed lag), a frame is kept only while an evicted or resuming
        // subscriber may still need it — the last one it was given too, so its resume finds that id (a publisher's own id).
        var expired = local - Keep;
        if (expired >= _retainedFrom && expired < ProtectedFloor())
            while (_retainedFrom <= expired) Drop(_retainedFrom);
    }

    /// <summary>Doubles the ring (up to its greatest length), keeping every held frame at its new place.</summary>
    private int Grow()
    {
        var old = _frames;
        var grown = new HubFrame?[Math.Min(Capacity * 2L, MaxCapacity)];
        if (old is HubFrame single) grown[single.Local % grown.Length] = single;
        else if (old is HubFrame?[] frames)
            foreach (var frame in frames)
                if (frame is not null) grown[frame.Local % grown.Length] = frame;
        Volatile.Write(ref _frames, grown);
        return grown.Length;
    }

    /// <summary>Forgets frame <paramref name="local"/> (and every older one).</summary>
    public void Drop(long local)
    {
        if (local < _retainedFrom) return;
        if (_frames is HubFrame?[] frames)
        {
            ref var slot = ref frames[local % frames.Length];
            if (slot is { } old && old.Local == local)
            {
                Forget(old);
                Volatile.Write(ref slot, null);
            }
        }
        else if (_frames is HubFrame single && single.Local == local)
        {
            Forget(single);
            Volatile.Write(ref _frames, null);
        }
        Retain(local + 1);
    }

    /// <summary>Forgets every frame up to <paramref name="local"/>.</summary>
    public void DropThrough(long local)
    {
        while (_retainedFrom <= local) Drop(_retainedFrom);
    }

    /// <summary>Forgets everything (the topic is forgotten, or the backplane's sequence restarted).</summary>
    public void Clear()
    {
        if (_frames is HubFrame?[] frames)
        {
            for (var i = 0; i < frames.Length; i++)
            {
                if (frames[i] is { } old)
                {
                    Forget(old);
                    Volatile.Write(ref frames[i], null);
                }
            }
        }
        else if (_frames is HubFrame single)
        {
            Forget(single);
            Volatile.Write(ref _frames, null);
        }
        _extras?.OwnIds?.Clear();
        _extras?.EvictedAt?.Clear();
        _extras?.ResumingFrom?.Clear();
        _retainedFrom = _head + 1;
    }

    private void Forget(HubFrame old)
    {
        _hub.FrameForgotten(this, old);
        if (old.OwnId && _extras?.OwnIds is { } ids && ids.TryGetValue(old.Source.Id!, out var at) && at == old.Local) ids.Remove(old.Source.Id!);
    }

    private void Retain(long local)
    {
        if (local > _retainedFrom) _retainedFrom = local;
    }

    // ---- Resuming -------------------------------------------------------------------------------------------------

    /// <summary>The topic's count of the oldest event a resume may start from: the last <c>replay</c> events, or older where an
    /// evicted or resuming subscriber's frames are still held.</summary>
    public long WindowOldest(int replay)
    {
        var oldest = Math.Max(1, _head - replay + 1);
        var floor = ProtectedFloor();
        if (floor != long.MaxValue) oldest = Math.Min(oldest, Math.Max(floor + 1, _retainedFrom));
        return Math.Max(oldest, _retainedFrom);
    }

    /// <summary>The topic's count of the newest held event carrying <paramref name="id"/> as its own id, or 0.</summary>
    public long OwnId(string id) => _extras?.OwnIds is { } ids && ids.TryGetValue(id, out var local) ? local : 0;

    /// <summary>The topic's count of the last held frame numbered at most <paramref name="seq"/> by the hub (RetainedFrom - 1 when
    /// none is): frames are in increasing hub numbers, so a binary search; O(1) when the topic's numbers are the hub's.</summary>
    public long LastAtOrBefore(long seq)
    {
        long lo = _retainedFrom, hi = _head;
        if (lo > hi) return hi;
        if (FrameAt(hi) is { } newest && newest.Seq <= seq) return hi;
        if (FrameAt(lo) is { } oldest && oldest.Seq > seq) return lo - 1;
        // The common case: a topic with every number of the hub since some point.
        var guess = hi - (FrameAt(hi)!.Seq - seq);
        if (guess >= lo && guess <= hi && FrameAt(guess) is { } g && g.Seq == seq) return guess;
        while (lo < hi)
        {
            var mid = lo + (hi - lo + 1) / 2;
            if (FrameAt(mid) is { } f && f.Seq <= seq) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>The held frame the hub numbered <paramref name="seq"/>, if this topic has it.</summary>
    public HubFrame? FrameNumbered(long seq)
    {
        var local = LastAtOrBefore(seq);
        return local >= _retainedFrom && FrameAt(local) is { } f && f.Seq == seq ? f : null;
    }

    /// <summary>Keeps what a subscriber evicted at <paramref name="local"/> missed, until the ring wraps past it.</summary>
    public void Evicted(long local)
    {
        if (local + 1 >= _retainedFrom && local < _head) (More.EvictedAt ??= []).Add(Math.Max(0, local));
    }

    /// <summary>A resume from <paramref name="local"/>: frames after it stay held until it has caught up or ended.
    /// False when nothing was protected.</summary>
    public bool Protect(long local)
    {
        local = Math.Max(0, local);
        if (local + 1 < _retainedFrom || local >= _head) return false;
        var resuming = More.ResumingFrom ??= [];
        resuming[local] = resuming.GetValueOrDefault(local) + 1;
        return true;
    }

    /// <summary>A resume that caught up (or ended) lets go of the backlog it protected. Under the hub's lock.</summary>
    public void Release(long local)
    {
        if (_extras?.ResumingFrom is not { } resuming || !resuming.TryGetValue(local, out var count)) return;
        if (count > 1) resuming[local] = count - 1;
        else resuming.Remove(local);
    }

    private long ProtectedFloor()
    {
        var floor = long.MaxValue;
        if (_extras?.EvictedAt is { } evicted)
        {
            while (evicted.Count > 0 && evicted.Min + 1 < _retainedFrom) evicted.Remove(evicted.Min);
            if (evicted.Count > 0) floor = evicted.Min;
        }
        if (_extras?.ResumingFrom is { Count: > 0 } resuming) floor = Math.Min(floor, Math.Max(resuming.First().Key, _retainedFrom - 1));
        return floor;
    }

    // ---- Subscribers ----------------------------------------------------------------------------------------------

    /// <summary>O(1). Under the hub's lock; returns the slot.</summary>
    public int Add(HubSubscription subscription)
    {
        var slots = _slots ??= new HubSubscription?[4];
        var index = _extras?.FreeSlots is { Count: > 0 } free ? free.Pop() : _slotsUsed++;
        if (index == slots.Length)
        {
            Array.Resize(ref slots, slots.Length * 2);
            Volatile.Write(ref _slots, slots);
        }
        Volatile.Write(ref slots[index], subscription);
        return index;
    }

    /// <summary>O(1): the slot is cleared and reused. Under the hub's lock.</summary>
    public void Remove(HubSubscription subscription, int index)
    {
        if (_slots is not { } slots || index < 0 || index >= slots.Length || slots[index] != subscription) return;
        Volatile.Write(ref slots[index], null);
        (More.FreeSlots ??= new Stack<int>()).Push(index);
    }

    /// <summary>Wakes this topic's subscribers only: a publish never scans the rest of the hub.</summary>
    public void WakeAll() => WakeFrom(0);

    /// <summary>Subscribers woken at once: the next ones are woken by a work item queued behind the sends of these. Each
    /// subscriber's drain rents an output block of Kestrel's pool, returned once the transport has sent it; waking a whole
    /// broadcast at once had every block rented before the first send, and the pool then kept them all (4 KB per subscriber).</summary>
    internal const int WakeWave = 256;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void WakeFrom(int start)
    {
        // Orders the head written by the publish before each subscriber's state is read (see HubSubscription's attach).
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _slots) is not { } slots) return;
        var used = Math.Min(Volatile.Read(ref _slotsUsed), slots.Length);
        var end = Math.Min(used, start + WakeWave);
        for (var i = start; i < end; i++) Volatile.Read(ref slots[i])?.Wake(this);
        if (end < used) ThreadPool.UnsafeQueueUserWorkItem(static wave => wave.Ring.WakeFrom(wave.Next), (Ring: this, Next: end), preferLocal: false);
    }

    /// <summary>Every subscriber, for ending them all. Under the hub's lock.</summary>
    public HubSubscription?[] Subscribers() => _slots is { } slots ? [.. slots] : [];
}

/// <summary>One published event and its wire bytes, encoded once: the hub's number and the topic's count (0 for events read
/// from a backplane's history).</summary>
internal sealed record HubFrame(long Seq, ServerEvent Source, byte[] Bytes, bool OwnId)
{
    /// <summary>The event as subscribers see it: with the hub's number as its id when the publisher gave none (made when
    /// asked for, for direct readers; a held frame keeps only the publisher's event and the wire bytes).</summary>
    public ServerEvent Event => OwnId ? Source : Source.WithId(Seq.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The topic's count of this frame.</summary>
    public long Local { get; init; }

    /// <summary>What keeping this frame costs: its bytes and its event's text (UTF-16).</summary>
    public long Size => Bytes.Length + 2L * ((Source.Data?.Length ?? 0) + (Source.Comment?.Length ?? 0)) + 64;
}
