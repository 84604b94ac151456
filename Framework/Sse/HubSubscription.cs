using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// A cursor into an <see cref="EventHub"/>'s ring of frames. Served by <c>res.EventStream</c>, it writes the shared frames
/// straight into the response pipe: whoever wins the Idle→Busy exchange (a work item queued by a publish or by the heartbeat)
/// drains the cursor, so there is one writer at a time, no copy per subscriber, and one flush for everything published
/// since the last drain. Once Ended, no one writes again. Enumerated directly (<c>await foreach</c>), it yields the hub's
/// <see cref="ServerEvent"/>s.
/// </summary>
internal sealed partial class HubSubscription : IAsyncEnumerable<ServerEvent>, IAsyncEnumerator<ServerEvent>, IHeartbeatClient, IThreadPoolWorkItem, IDisposable
{
    // Unattached: no response owns it yet (or it is enumerated); wakes only signal a reader.
    private const int Idle = 0, Busy = 1, BusyAgain = 2, Ended = 3, Unattached = 4;

    /// <summary>
    /// Measured both ways (docs/performance.md): one work item per idle subscriber (default), or the drain run on the
    /// publisher's thread (BOCATA_HUB_DELIVERY=inline). Queued drains batch every frame published meanwhile into one flush,
    /// so a burst costs a flush per subscriber instead of one per event: 13.1k against 8.5k events/s delivered to 200
    /// subscribers, and equal CPU for a 10k-subscriber broadcast.
    /// </summary>
    internal static bool DeliverInline { get; set; } = Environment.GetEnvironmentVariable("BOCATA_HUB_DELIVERY") == "inline";

    private readonly EventHub _hub;
    private readonly StreamSignal _signal = new();
    private int _state = Unattached;
    private int _endRequested;
    private int _disposed;
    private int _evicted;
    private int _abortFlush; // Dispose ran (not an eviction): a flush that has to wait is aborted, not waited out
    private bool _enumerated;
    private CancellationTokenRegistration _watch;
    private CancellationTokenRegistration _watchStop;
    private bool _watchesRequest;

    // Set once a response owns this subscription.
    private RequestContext? _context;
    private PipeWriter? _writer;
    private TaskCompletionSource? _done;
    private long _intervalMs;
    private long _lastWrite;
    private long _flushStarted;
    private int _pingDue;
    private ValueTaskAwaiter<FlushResult> _flush;
    private Action? _afterFlush;

    // Enumerated directly.
    private CancellationToken _readerToken;
    private CancellationTokenRegistration _readerWatch;

    // One cursor per topic read; set when the subscription is registered (at once, or after an asynchronous authorization).
    private TopicCursor[] _cursors = [];
    private Func<Task>? _authorize;
    private string[]? _topics;
    private string? _lastEventId;

    // Events before the cursor that this instance never held, read from the backplane; written before the ring.
    private Task<HubFrame[]>? _historyRead;
    private string? _resolveId;
    private long _historyAfter;
    private HubFrame[]? _history;
    private int _historyIndex;

    // On a backplane that listens by topic: the hub number this stream starts after (frames up to it are never taken).
    private long _startsAfter;
    // A resume on a backplane that listens by topic, decided once the backplane answered (history read, id checked).
    private Task<ResumePlan>? _resumePlan;
    // The `resync` notice a resume that cannot be exact sends first (API.md "Resync is visible").
    private HubFrame? _resync;
    // A live stream whose topics were not all listened to yet: it starts where the backplane caught them up.
    private bool _startsWhenReady;

    // A resume: frames the hub numbered up to its head at subscription time are its backlog, bounded in bytes per request.
    private long _replayUntil;
    private long _replayedBytes;

    /// <summary>Where a subscription reads one topic: the topic's count of the last frame taken; its backlog's end and the
    /// position it protects while catching up (-1: none); its slot among the topic's subscribers (-1: not registered).</summary>
    internal struct TopicCursor(TopicRing ring, long cursor, long replayUntil, long anchor)
    {
        public readonly TopicRing Ring = ring;
        public long Cursor = cursor;
        public readonly long ReplayUntil = replayUntil;
        public long Anchor = anchor;
        public int Slot = -1;
    }

    public HubSubscription(EventHub hub) => _hub = hub;

    /// <summary>Where it starts reading. Under the hub's lock, once, before anyone reads.</summary>
    internal void Initialize(TopicCursor[] cursors, long replayUntil, Task<HubFrame[]>? history = null, string? resolveId = null, long historyAfter = 0, long startsAfter = 0, bool startsWhenReady = false)
    {
        _startsAfter = startsAfter;
        _startsWhenReady = startsWhenReady;
        _cursors = cursors;
        _replayUntil = replayUntil;
        _historyRead = history;
        _resolveId = resolveId;
        _historyAfter = historyAfter;
    }

    /// <summary>A subscription registered only once <paramref name="authorize"/> succeeds: before the stream's headers, or its first event.</summary>
    internal static HubSubscription Deferred(EventHub hub, string[] topics, string? lastEventId, Func<Task> authorize) =>
        new(hub) { _authorize = authorize, _topics = topics, _lastEventId = lastEventId };

    internal TopicCursor[] Cursors => _cursors;

    /// <summary>The id a resume asked for, for its `resync` notice. Under the hub's lock, at registration.</summary>
    internal void ResumingFrom(string lastEventId) => _lastEventId = lastEventId;

    internal bool IsDisposed => Volatile.Read(ref _disposed) == 1;

    /// <summary>Runs a deferred authorization, then registers on the hub (at the live end, or where Last-Event-ID resumes).</summary>
    private async Task AuthorizeThenRegisterAsync()
    {
        var authorize = _authorize!;
        _authorize = null;
        await authorize();
        _hub.Register(this, _hub.Rings(_topics!, request: true), _lastEventId);
        // Ended while authorizing (the client left): registered for nothing, so leave again.
        if (IsDisposed) _hub.Remove(this);
    }

    /// <summary>Takes the history read from the backplane, starting after the resumed id: the newest event carrying it as its
    /// own id, else the hub-numbered event with that number, else (unknown or too old) the whole window.</summary>
    private void SetHistory(HubFrame[] frames)
    {
        var start = 0;
        bool exact;
        if (_resolveId is { } id)
        {
            var at = Array.FindLastIndex(frames, f => f.OwnId && f.Source.Id == id);
            exact = at >= 0;
            if (at < 0 && long.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
            {
                at = Array.FindIndex(frames, f => f.Seq == n && !f.OwnId);
                exact = at >= 0 || n == _historyAfter; // the window's start exactly: all of it
            }
            start = at + 1;
        }
        else
        {
            // Older than the window: all of it; exact only for 0 (everything retained, asked for).
            exact = _lastEventId is null or "0";
            while (start < frames.Length && frames[start].Seq <= _historyAfter) start++;
        }
        if (!exact && _lastEventId is { } asked)
            _resync = ResyncNotice(asked, $"{EventHub.Printable(asked)} is not an event this hub still retains (unknown, or older than its window)");
        _historyIndex = start;
        _history = frames;
    }

    public HeartbeatNode? HeartbeatNode { get; set; }

    public ServerEvent Current { get; private set; } = null!;

    /// <summary>Ends the subscription when <paramref name="cancellationToken"/> fires (the client left, the server stops).</summary>
    public void Watch(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
            _watch = cancellationToken.UnsafeRegister(DisposeCallback, this);
    }

    /// <summary>What a token this subscription watches runs when it fires: the subscription ends.</summary>
    private static readonly Action<object?> DisposeCallback = static s => ((HubSubscription)s!).Dispose();

    /// <summary>Ends the subscription when the request's client leaves or the server stops: one registration on each token,
    /// not a linked source (a linked source, its registrations and its lock cost ~250 B more per idle stream).</summary>
    public void WatchRequest(RequestContext context)
    {
        _watchesRequest = true;
        var client = context.ClientAborted;
        if (client.CanBeCanceled) _watch = client.UnsafeRegister(DisposeCallback, this);
        _watchStop = context.Server.Stopping.UnsafeRegister(DisposeCallback, this);
        // hub.DisconnectAsync(user) finds the streams of a signed-in user through this index.
        if (context.Request.UserName is { Length: > 0 } user)
        {
            _user = user;
            _hub.TrackUser(user, this);
        }
    }

    // The signed-in user who opened the stream (indexed for hub.DisconnectAsync), or null.
    private string? _user;

    /// <summary>hub.DisconnectAsync: the stream ends after what it was already given, like an expired credential's.</summary>
    internal void EndForUser() => Leave();

    /// <summary>Leaves the hub and ends the stream. Idempotent; called when the request ends, whatever path it took.</summary>
    public void Dispose()
    {
        Leave();
        // A flush waiting on a client that stopped reading would hold the request (and shutdown) until the write timeout:
        // the connection is aborted (what it did not take is resent on its resume), which completes the flush at once. A drain
        // caught writing starts its flush after this check: it reads _abortFlush after setting _flushStarted and aborts then (both
        // sides write with a full fence before they read, so at least one of them sees the other).
        Interlocked.Exchange(ref _abortFlush, 1);
        if (Volatile.Read(ref _flushStarted) != 0) _context?.Abort();
    }

    /// <summary>Leaves the hub; the stream ends after what it was already given.</summary>
    private void Leave()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _hub.Remove(this);
        if (_user is not null) _hub.ForgetUser(_user, this);
        for (var i = 0; i < _cursors.Length; i++) ReleaseBacklog(i);
        _watch.Dispose();
        _watchStop.Dispose();
        Volatile.Write(ref _endRequested, 1);
        Wake(null);
    }

    /// <summary>A new frame was published on <paramref name="ring"/> (null: the hub completed, or the end was requested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    public void Wake(TopicRing? ring)
    {
        if (ring is not null && LagsBehind(ring)) Evict();
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state == Unattached)
            {
                // Nobody is draining these cursors: a reader whose next frame the ring no longer holds is found here, at publish time.
                if (ring is not null && Lost(ring)) Evict();
                _signal.Set();
                return;
            }
            if (state == Idle)
            {
                if (Interlocked.CompareExchange(ref _state, Busy, Idle) != Idle) continue;
                if (DeliverInline) Drain();
                else ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return;
            }
            if (state == Busy && Interlocked.CompareExchange(ref _state, BusyAgain, Busy) != Busy) continue;
            return; // BusyAgain: the drainer will look again; Ended: nothing to do.
        }
    }

    /// <summary>More than bufferSize behind on <paramref name="ring"/> — for a resume still replaying its backlog, more than
    /// bufferSize events published since it started, or its next frame about to leave the ring: it is evicted now, while the
    /// ring still holds everything after its cursor, so the client's resume is exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool LagsBehind(TopicRing ring)
    {
        var i = IndexOf(ring);
        if (i < 0) return false;
        var cursor = Volatile.Read(ref _cursors[i].Cursor);
        var head = ring.Head;
        var replayUntil = _cursors[i].ReplayUntil;
        return cursor >= replayUntil
            ? head - cursor > _hub.BufferSize
            : head - replayUntil > _hub.BufferSize || head - cursor >= ring.MaxCapacity - 2;
    }

    private bool Lost(TopicRing ring)
    {
        var i = IndexOf(ring);
        if (i < 0) return false;
        var cursor = Volatile.Read(ref _cursors[i].Cursor);
        return cursor < ring.Head && ring.FrameAt(cursor + 1) is null;
    }

    /// <summary>This subscription's cursor on <paramref name="ring"/> (-1: it does not read that topic). O(topics), a handful.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int IndexOf(TopicRing ring)
    {
        var cursors = _cursors;
        for (var i = 0; i < cursors.Length; i++)
            if (cursors[i].Ring == ring) return i;
        return -1;
    }

    void IThreadPoolWorkItem.Execute() => Drain();

    /// <summary>Counted once; the subscription leaves the hub at once, its reader or writer ends after what it already has.</summary>
    private void Evict()
    {
        if (Interlocked.Exchange(ref _evicted, 1) == 1) return;
        _hub.CountEviction(this);
        // Not aborted: what was already written reaches the client (or the write timeout cuts it), and it resumes from there.
        Leave();
    }

    private enum Next { Frame, None, End }

    /// <summary>The next frame after the cursor, or why there is none. Evicts a cursor the ring has left behind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    private Next TryNext(out HubFrame? frame)
    {
        frame = null;
        if (Volatile.Read(ref _endRequested) == 1) return Next.End;
        if (_resync is { } notice)
        {
            _resync = null;
            frame = notice;
            return Next.Frame;
        }
        var cursors = _cursors;
        // A topic the backplane is still catching up on holds the whole stream: nothing newer may go before its events.
        if (!AllReady()) return _hub.IsCompleted ? Next.End : Next.None;
        if (_startsWhenReady)
        {
            _startsWhenReady = false;
            for (var i = 0; i < cursors.Length; i++) _startsAfter = Math.Max(_startsAfter, cursors[i].Ring.ReadyAt);
        }
        HubFrame? older = null;
        if (_history is { } history && _historyIndex < history.Length)
        {
            // One request replays at most MaxReplayBytes: the stream ends and the client continues from its last id.
            if (_replayedBytes >= _hub.MaxReplayBytes) return Next.End;
            older = history[_historyIndex];
        }
        // Frames are taken in the hub's number order across topics, and only up to the hub's ordered head read first: every
        // frame numbered up to it is already in its ring, so no topic's frame can be taken before an older one of another.
        var head = cursors.Length > 1 ? _hub.OrderedHead : long.MaxValue;
        var best = -1;
        for (var i = 0; i < cursors.Length; i++)
        {
            var ring = cursors[i].Ring;
            var cursor = cursors[i].Cursor;
            if (cursor >= ring.Head) continue;
            var next = ring.FrameAt(cursor + 1);
            // Frames a backplane delivered late (a topic it began listening to) that this stream starts after: passed over.
            while (next is not null && next.Seq <= _startsAfter)
            {
                Volatile.Write(ref cursors[i].Cursor, cursor = next.Local);
                next = cursor >= ring.Head ? null : ring.FrameAt(cursor + 1);
            }
            if (cursor >= ring.Head) continue;
            if (next is null)
            {
                // Too far behind (the ring overwrote or dropped the next frame): end the stream rather than grow memory;
                // the client resumes with Last-Event-ID.
                Evict();
                return Next.End;
            }
            if (next.Seq > head) continue;
            if (frame is null || next.Seq < frame.Seq)
            {
                frame = next;
                best = i;
            }
        }
        if (older is not null && (frame is null || older.Seq < frame.Seq))
        {
            // The history read from the backplane, merged with the rings by number.
            frame = older;
            _historyIndex++;
            _replayedBytes += frame.Bytes.Length;
            return Next.Frame;
        }
        if (frame is null) return _hub.IsCompleted ? Next.End : Next.None;
        // One request replays at most MaxReplayBytes: the stream ends and the client continues from its last id.
        if (frame.Seq <= _replayUntil && _replayedBytes >= _hub.MaxReplayBytes)
        {
            frame = null;
            return Next.End;
        }
        Volatile.Write(ref cursors[best].Cursor, frame.Local);
        if (frame.Seq <= _replayUntil) _replayedBytes += frame.Bytes.Length;
        if (cursors[best].Anchor >= 0 && frame.Local >= cursors[best].ReplayUntil) ReleaseBacklog(best);
        return Next.Frame;
    }

    /// <summary>Whether every topic of the stream has all its events here (no backplane is catching one up).</summary>
    private bool AllReady()
    {
        var cursors = _cursors;
        for (var i = 0; i < cursors.Length; i++)
            if (!cursors[i].Ring.Ready) return false;
        return true;
    }

    /// <summary>Whether a topic has a frame after its cursor (or the stream must end): a reader arming its wait looks once more.</summary>
    private bool HasPending()
    {
        if (Volatile.Read(ref _endRequested) == 1) return true;
        if (!AllReady()) return _hub.IsCompleted;
        foreach (var c in _cursors)
            if (Volatile.Read(ref Unsafe.AsRef(in c.Cursor)) < c.Ring.Head) return true;
        return _hub.IsCompleted || Volatile.Read(ref _endRequested) == 1;
    }

    /// <summary>Caught up on that topic (or gone): the hub may drop the backlog this resume protected there.</summary>
    private void ReleaseBacklog(int index)
    {
        var anchor = Interlocked.Exchange(ref _cursors[index].Anchor, -1);
        if (anchor >= 0) _hub.Release(_cursors[index].Ring, anchor);
    }
}
