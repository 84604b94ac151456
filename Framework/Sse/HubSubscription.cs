using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

// CA2012: a flush result is read only once it completed, or through its awaiter once.
#pragma warning disable CA2012

namespace Bocata;

/// <summary>
/// A cursor into an <see cref="EventHub"/>'s ring of frames. Served by <c>res.EventStream</c>, it writes the shared frames
/// straight into the response pipe: whoever wins the Idle→Busy exchange (the publisher, or a heartbeat work item) drains
/// the cursor, so there is one writer at a time, no copy per subscriber and no thread-pool hop per event. Once Ended, no
/// one writes again. Enumerated directly (<c>await foreach</c>), it yields the hub's <see cref="ServerEvent"/>s.
/// </summary>
internal sealed class HubSubscription : IAsyncEnumerable<ServerEvent>, IAsyncEnumerator<ServerEvent>, IHeartbeatClient, IThreadPoolWorkItem, IDisposable
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
    private HubFrame[]? _history;
    private int _historyIndex;

    public HubSubscription(EventHub hub, long cursor, Task<HubFrame[]>? history = null)
    {
        _hub = hub;
        _cursor = cursor;
        _historyRead = history;
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
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _hub.Remove(this);
        _watch.Dispose();
        Volatile.Write(ref _endRequested, 1);
        Wake();
    }

    /// <summary>A new frame was published, the hub completed, or the end was requested.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    public void Wake()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state == Unattached)
            {
                // Nobody is draining this cursor: a reader that stopped reading is found here, at publish time.
                if (_hub.LastSequence - Volatile.Read(ref _cursor) > _hub.MaxLag) Evict();
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
        _hub.CountEviction();
        Dispose();
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
            frame = history[_historyIndex++];
            return Next.Frame;
        }
        var head = _hub.LastSequence;
        if (_cursor >= head) return _hub.IsCompleted ? Next.End : Next.None;
        frame = head - _cursor > _hub.MaxLag ? null : _hub.FrameAt(_cursor + 1);
        if (frame is null)
        {
            // Too far behind: end the stream rather than grow memory; the client resumes with Last-Event-ID.
            Evict();
            return Next.End;
        }
        Volatile.Write(ref _cursor, _cursor + 1);
        return Next.Frame;
    }

    // ---- Served as a response: frames written straight into the pipe --------------------------------------------

    public async Task SendAsync(RequestContext context, TimeSpan ping)
    {
        if (_enumerated || _writer is not null) throw new InvalidOperationException("A hub subscription can be sent once; call hub.Subscribe again for another stream.");
        var server = context.Server;
        var ct = context.Aborted;
        server.StreamOpened();
        try
        {
            context.BodyFeature.DisableBuffering();
            await context.BodyFeature.StartAsync(ct);
            await context.BodyFeature.Writer.FlushAsync(ct);
            if (_historyRead is not null) _history = await _historyRead.WaitAsync(ct);
            _context = context;
            _writer = context.BodyFeature.Writer;
            _intervalMs = Math.Max(1, (long)ping.TotalMilliseconds);
            _lastWrite = Environment.TickCount64;
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _afterFlush = AfterFlush;
            // From here publishers and the heartbeat drain this cursor; the exchange orders it after the head they wrote.
            Interlocked.Exchange(ref _state, Busy);
            using (ct.UnsafeRegister(static s => ((HubSubscription)s!).Dispose(), this))
            {
                var heartbeat = TimeSpan.FromMilliseconds(Math.Min(_intervalMs, (long)server.Settings.StreamWriteTimeout.TotalMilliseconds));
                server.Heartbeat.Add(this, heartbeat);
                // This request holds the Busy state it was created with: drain the backlog, then let publishers in.
                Drain();
                await _done.Task;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (_writer is null)
        {
            // The history could not be read (the backplane is unreachable): end the stream; the client retries.
            server.Log.LogWarning(e, "Could not read the event history for {Path}; the stream is ended so the client retries", context.Request.Path);
        }
        finally
        {
            server.Heartbeat.Remove(this);
            Dispose();
            server.StreamClosed();
        }
    }

    /// <summary>Runs only while this thread holds Busy: writes frames from the cursor, flushes, then releases or ends.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    private void Drain()
    {
        var writer = _writer!;
        try
        {
            while (true)
            {
                var (next, written) = WriteFrames(writer);
                if (next == Next.End && written == 0)
                {
                    End();
                    return;
                }
                if (written == 0 && Interlocked.Exchange(ref _pingDue, 0) == 1)
                {
                    writer.WriteAll(EventStreamSender.PingBytes);
                    written = EventStreamSender.PingBytes.Length;
                }
                if (written > 0)
                {
                    Volatile.Write(ref _lastWrite, Environment.TickCount64);
                    var flush = writer.FlushAsync();
                    if (!flush.IsCompleted)
                    {
                        // The client is not taking data as fast as it comes: finish when the pipe drains (or the heartbeat aborts it).
                        Volatile.Write(ref _flushStarted, Environment.TickCount64);
                        _flush = flush.GetAwaiter();
                        _flush.UnsafeOnCompleted(_afterFlush!);
                        return;
                    }
                    if (Finished(flush.GetAwaiter().GetResult())) return;
                    if (next != Next.None) continue; // stopped at the bytes bound, or flushed the last frames before ending
                }
                if (Interlocked.CompareExchange(ref _state, Idle, Busy) == Busy) return;
                Volatile.Write(ref _state, Busy); // BusyAgain: something arrived while draining
            }
        }
        catch (Exception e)
        {
            _context?.Server.Log.LogDebug(e, "Hub stream for {Path} ended while writing", _context.Request.Path);
            End();
        }
    }

    [ThreadStatic] private static HubFrame[]? t_batch;
    private const int BatchBytes = 16 * 1024;

    /// <summary>Writes the frames after the cursor, up to the unflushed-bytes bound. Small frames that arrived together are copied
    /// into one span of the response pipe (one GetSpan/Advance for the batch, not one per frame).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    private (Next Next, long Written) WriteFrames(PipeWriter writer)
    {
        var batch = t_batch ??= new HubFrame[64];
        long written = 0;
        var next = Next.None;
        while (written < EventStreamSender.MaxUnflushedBytes)
        {
            var count = 0;
            var bytes = 0;
            while (count < batch.Length && bytes < BatchBytes && (next = TryNext(out var frame)) == Next.Frame)
            {
                batch[count++] = frame!;
                bytes += frame!.Bytes.Length;
            }
            if (count == 0) break;
            if (bytes <= BatchBytes)
            {
                var span = writer.GetSpan(bytes);
                var at = 0;
                for (var i = 0; i < count; i++)
                {
                    batch[i].Bytes.CopyTo(span[at..]);
                    at += batch[i].Bytes.Length;
                }
                writer.Advance(bytes);
            }
            else
            {
                for (var i = 0; i < count; i++) writer.WriteAll(batch[i].Bytes);
            }
            Array.Clear(batch, 0, count);
            written += bytes;
            if (next != Next.Frame) break;
        }
        return (next, written);
    }

    private void AfterFlush()
    {
        Volatile.Write(ref _flushStarted, 0);
        try
        {
            if (Finished(_flush.GetResult())) return;
        }
        catch (Exception)
        {
            End();
            return;
        }
        Drain();
    }

    private bool Finished(FlushResult result)
    {
        if (!result.IsCompleted && !result.IsCanceled) return false;
        End();
        return true;
    }

    /// <summary>Only the Busy holder gets here: the state becomes Ended for good, and the request may complete.</summary>
    private void End()
    {
        Volatile.Write(ref _state, Ended);
        _done?.TrySetResult();
    }

    public void OnHeartbeat(long nowMs)
    {
        var flushStarted = Volatile.Read(ref _flushStarted);
        var context = _context;
        if (flushStarted != 0 && context is not null && nowMs - flushStarted > (long)context.Server.Settings.StreamWriteTimeout.TotalMilliseconds)
        {
            Volatile.Write(ref _flushStarted, 0);
            context.Server.Log.LogWarning("Client {Client} did not read {Path} for {Timeout}; disconnecting it", context.Request.Client, context.Request.Path, context.Server.Settings.StreamWriteTimeout);
            Evict();
            context.Abort();
            return;
        }
        if (Volatile.Read(ref _state) != Idle || nowMs - Volatile.Read(ref _lastWrite) < _intervalMs) return;
        Volatile.Write(ref _pingDue, 1);
        // Pings are written by a drain on the thread pool, never on the heartbeat's thread.
        if (Interlocked.CompareExchange(ref _state, Busy, Idle) == Idle) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
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
        _history = await _historyRead!.WaitAsync(_readerToken);
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
