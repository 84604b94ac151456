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
    private long _cursor;
    private int _state = Unattached;
    private int _endRequested;
    private int _disposed;
    private int _evicted;
    private bool _enumerated;
    private CancellationTokenRegistration _watch;

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

    // Events before the cursor that this instance never held, read from the backplane; written before the ring.
    private readonly Task<HubFrame[]>? _historyRead;
    private readonly string? _resolveId;
    private readonly long _historyAfter;
    private HubFrame[]? _history;
    private int _historyIndex;

    // A resume: frames up to the head at subscription time are its backlog, bounded in bytes per request.
    private readonly long _replayUntil;
    private long _replayedBytes;
    // Where the hub protects this resume's backlog from (-1: nothing protected); released once caught up or ended.
    private long _anchor;

    public HubSubscription(EventHub hub, long cursor, long replayUntil, long anchor = -1, Task<HubFrame[]>? history = null, string? resolveId = null, long historyAfter = 0)
    {
        _hub = hub;
        _cursor = cursor;
        _replayUntil = replayUntil;
        _anchor = anchor;
        _historyRead = history;
        _resolveId = resolveId;
        _historyAfter = historyAfter;
    }

    /// <summary>Takes the history read from the backplane, starting after the resumed id: the newest event carrying it as its
    /// own id, else the hub-numbered event with that number, else (unknown or too old) the whole window.</summary>
    private void SetHistory(HubFrame[] frames)
    {
        var start = 0;
        if (_resolveId is { } id)
        {
            var at = Array.FindLastIndex(frames, f => f.OwnId && f.Event.Id == id);
            if (at < 0 && long.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
            {
                at = Array.FindIndex(frames, f => f.Seq == n && !f.OwnId);
                if (at < 0 && n == _historyAfter) at = -1; // the window's start exactly: all of it
            }
            start = at + 1;
        }
        else
        {
            while (start < frames.Length && frames[start].Seq <= _historyAfter) start++;
        }
        _historyIndex = start;
        _history = frames;
    }

    internal int Slot { get; set; } = -1;

    public HeartbeatNode? HeartbeatNode { get; set; }

    public ServerEvent Current { get; private set; } = null!;

    /// <summary>Ends the subscription when <paramref name="cancellationToken"/> fires (the client left, the server stops).</summary>
    public void Watch(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
            _watch = cancellationToken.UnsafeRegister(static s => ((HubSubscription)s!).Dispose(), this);
    }

    /// <summary>Leaves the hub and ends the stream. Idempotent; called when the request ends, whatever path it took.</summary>
    public void Dispose()
    {
        Leave();
        // A flush waiting on a client that stopped reading would hold the request (and shutdown) until the write timeout:
        // the connection is aborted (what it did not take is resent on its resume), which completes the flush at once.
        if (Volatile.Read(ref _flushStarted) != 0) _context?.Abort();
    }

    /// <summary>Leaves the hub; the stream ends after what it was already given.</summary>
    private void Leave()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _hub.Remove(this);
        ReleaseBacklog();
        _watch.Dispose();
        Volatile.Write(ref _endRequested, 1);
        Wake();
    }

    /// <summary>A new frame was published, the hub completed, or the end was requested.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    public void Wake()
    {
        // More than bufferSize behind — for a resume still replaying its backlog, more than bufferSize events published since
        // it started, or its next frame about to leave the ring — it is evicted now, while the ring still holds everything
        // after its cursor, so the client's resume is exact.
        var cursor = Volatile.Read(ref _cursor);
        var head = _hub.LastSequence;
        if (cursor >= _replayUntil)
        {
            if (head - cursor > _hub.BufferSize) Evict();
        }
        else if (head - _replayUntil > _hub.BufferSize)
        {
            Evict();
        }
        else if (head - cursor >= _hub.RingLength - 2)
        {
            // Its next frame is about to leave the ring: evicted while it is still held.
            Evict();
        }
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state == Unattached)
            {
                // Nobody is draining this cursor: a reader whose next frame the ring no longer holds is found here, at publish time.
                cursor = Volatile.Read(ref _cursor);
                if (cursor < _hub.LastSequence && _hub.FrameAfter(cursor) is null) Evict();
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

    void IThreadPoolWorkItem.Execute() => Drain();

    /// <summary>Counted once; the subscription leaves the hub at once, its reader or writer ends after what it already has.</summary>
    private void Evict()
    {
        if (Interlocked.Exchange(ref _evicted, 1) == 1) return;
        _hub.CountEviction(Volatile.Read(ref _cursor));
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
        if (_history is { } history && _historyIndex < history.Length)
        {
            // One request replays at most MaxReplayBytes: the stream ends and the client continues from its last id.
            if (_replayedBytes >= _hub.MaxReplayBytes) return Next.End;
            frame = history[_historyIndex++];
            _replayedBytes += frame.Bytes.Length;
            return Next.Frame;
        }
        var head = _hub.LastSequence;
        if (_cursor >= head) return _hub.IsCompleted ? Next.End : Next.None;
        if (_cursor < _replayUntil && _replayedBytes >= _hub.MaxReplayBytes) return Next.End;
        frame = _hub.FrameAfter(_cursor);
        if (frame is null)
        {
            // Too far behind (the ring overwrote or dropped the next frame): end the stream rather than grow memory;
            // the client resumes with Last-Event-ID.
            Evict();
            return Next.End;
        }
        Volatile.Write(ref _cursor, frame.Seq);
        if (_cursor <= _replayUntil) _replayedBytes += frame.Bytes.Length;
        if (_cursor >= _replayUntil && _anchor >= 0) ReleaseBacklog();
        return Next.Frame;
    }

    /// <summary>Caught up (or gone): the hub may drop the backlog this resume protected.</summary>
    private void ReleaseBacklog()
    {
        var anchor = Interlocked.Exchange(ref _anchor, -1);
        if (anchor >= 0) _hub.Release(anchor);
    }

    // ---- Enumerated directly -------------------------------------------------------------------------------------

    public IAsyncEnumerator<ServerEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (_enumerated || _writer is not null) throw new InvalidOperationException("A hub subscription can be read once; call hub.Subscribe again for another reader.");
        _enumerated = true;
        _readerToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
            _readerWatch = cancellationToken.UnsafeRegister(static s => ((StreamSignal)s!).Set(), _signal);
        return this;
    }

    public ValueTask<bool> MoveNextAsync()
    {
        if (_historyRead is not null && _history is null) return ReadHistoryThenMoveNextAsync();
        while (true)
        {
            _readerToken.ThrowIfCancellationRequested();
            var next = TryNext(out var frame);
            if (next == Next.Frame)
            {
                Current = frame!.Event;
                return new ValueTask<bool>(true);
            }
            if (next == Next.End) return new ValueTask<bool>(false);
            _signal.Reset();
            // Armed: look once more, so a publish between the first look and the reset is not missed.
            if (_cursor < _hub.LastSequence || _hub.IsCompleted || Volatile.Read(ref _endRequested) == 1 || _readerToken.IsCancellationRequested) continue;
            return WaitThenMoveNextAsync();
        }
    }

    private async ValueTask<bool> ReadHistoryThenMoveNextAsync()
    {
        SetHistory(await _historyRead!.WaitAsync(_readerToken));
        return await MoveNextAsync();
    }

    private async ValueTask<bool> WaitThenMoveNextAsync()
    {
        await _signal.WaitAsync();
        return await MoveNextAsync();
    }

    public ValueTask DisposeAsync()
    {
        _readerWatch.Dispose();
        Dispose();
        return ValueTask.CompletedTask;
    }
}
