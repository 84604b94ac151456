using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

// CA2012: a flush result is read only once it completed, or through its awaiter once.
#pragma warning disable CA2012

namespace Bocata;

/// <summary>A hub subscription served as a response: frames written straight into the pipe by one drain at a time.</summary>
internal sealed partial class HubSubscription
{
    public async Task SendAsync(RequestContext context, TimeSpan ping)
    {
        if (_enumerated || _writer is not null) throw new InvalidOperationException("A hub subscription can be sent once; call hub.Subscribe again for another stream.");
        var server = context.Server;
        // The client leaving and the server stopping end the stream (WatchRequest); waits before the first byte, rare, use the
        // request's linked token.
        var clientGone = context.ClientAborted;
        var stopping = server.Stopping;
        server.StreamOpened();
        try
        {
            // A deferred authorization runs before any header: a refused topic is a 403 naming it.
            if (_authorize is not null) await AuthorizeThenRegisterAsync();
            if (_startsWhenReady) await WaitReadyAsync(context.Aborted);
            await EventStreamSender.StartAsync(context, clientGone);
            if (_historyRead is not null) SetHistory(await _historyRead.WaitAsync(context.Aborted));
            if (_resumePlan is not null) SetResume(await _resumePlan.WaitAsync(context.Aborted));
            _context = context;
            _writer = context.BodyFeature.Writer;
            _intervalMs = Math.Max(1, (long)ping.TotalMilliseconds);
            _lastWrite = Environment.TickCount64;
            _deadlineMs = context.Request.CredentialDeadlineMs();
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _afterFlush = AfterFlush;
            // From here publishers and the heartbeat drain this cursor; the exchange orders it after the head they wrote.
            Interlocked.Exchange(ref _state, Busy);
            // A subscription from hub.Subscribe(req) already ends with its request; one made otherwise is tied to it here.
            using var client = _watchesRequest ? default : clientGone.UnsafeRegister(DisposeCallback, this);
            using var stop = _watchesRequest ? default : stopping.UnsafeRegister(DisposeCallback, this);
            var heartbeat = TimeSpan.FromMilliseconds(Math.Min(_intervalMs, (long)server.Settings.StreamWriteTimeout.TotalMilliseconds));
            server.Heartbeat.Add(this, heartbeat);
            // This request holds the Busy state it was created with: drain the backlog, then let publishers in.
            Drain();
            await _done.Task;
            // Ended by the stop (the drain has ended: nobody else writes now): reconnect soon, elsewhere, unless an event set its own retry.
            if (!_retrySet) await ReconnectNotice.SendAsync(context);
        }
        catch (OperationCanceledException) when (clientGone.IsCancellationRequested || stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (_writer is null && e is not HttpError)
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
                        Interlocked.Exchange(ref _flushStarted, Environment.TickCount64);
                        _flush = flush.GetAwaiter();
                        _flush.UnsafeOnCompleted(_afterFlush!);
                        // Disposed while this drain was writing: Dispose found no flush to abort, so the flush is aborted here.
                        if (Volatile.Read(ref _abortFlush) == 1) _context?.Abort();
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

    // A frame larger than a batch, written across flushes: at most the unflushed-bytes bound sits in this connection's
    // pipe at a time, so a 20 MB event to 40 idle subscribers costs the one shared frame, not 40 copies of it.
    private HubFrame? _partial;
    private int _partialOffset;
    // An event of the stream set its own retry: the stop's reconnect notice leaves it alone.
    private bool _retrySet;

    /// <summary>Writes the frames after the cursor, up to the unflushed-bytes bound. Small frames that arrived together are copied
    /// into one span of the response pipe (one GetSpan/Advance for the batch, not one per frame); a large one goes in slices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // The delivery loop: optimized at once, not after tiering catches up under load.
    private (Next Next, long Written) WriteFrames(PipeWriter writer)
    {
        var batch = t_batch ??= new HubFrame[64];
        long written = 0;
        var next = Next.None;
        while (written < EventStreamSender.MaxUnflushedBytes)
        {
            if (_partial is { } partial)
            {
                var slice = (int)Math.Min(partial.Bytes.Length - _partialOffset, EventStreamSender.MaxUnflushedBytes - written);
                writer.WriteAll(partial.Bytes.AsSpan(_partialOffset, slice));
                written += slice;
                _partialOffset += slice;
                if (_partialOffset < partial.Bytes.Length) return (Next.Frame, written);
                _partial = null;
                _partialOffset = 0;
                continue;
            }
            var count = 0;
            var bytes = 0;
            HubFrame? large = null;
            while (count < batch.Length && bytes < BatchBytes && (next = TryNext(out var frame)) == Next.Frame)
            {
                if (frame!.Bytes.Length > BatchBytes)
                {
                    large = frame;
                    break;
                }
                batch[count++] = frame;
                bytes += frame.Bytes.Length;
            }
            if (count > 0)
            {
                var span = writer.GetSpan(bytes);
                var at = 0;
                for (var i = 0; i < count; i++)
                {
                    _retrySet |= batch[i].Source.Retry is not null;
                    batch[i].Bytes.CopyTo(span[at..]);
                    at += batch[i].Bytes.Length;
                }
                writer.Advance(bytes);
                Array.Clear(batch, 0, count);
                Telemetry.EventsSent.Add(count);
                written += bytes;
            }
            if (large is not null)
            {
                _retrySet |= large.Source.Retry is not null;
                Telemetry.EventsSent.Add(1);
                _partial = large;
                _partialOffset = 0;
                continue;
            }
            if (count == 0 || next != Next.Frame) break;
        }
        return (_partial is not null ? Next.Frame : next, written);
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

    // When the credential the stream was opened with expires (TickCount64), or 0. Read and cleared by the heartbeat only.
    private long _deadlineMs;

    public void OnHeartbeat(long nowMs)
    {
        if (_deadlineMs != 0 && nowMs >= _deadlineMs)
        {
            // The credential that opened the stream has expired: it ends after what it was already given, and the client
            // reconnects with a fresh one and its Last-Event-ID.
            _deadlineMs = 0;
            Leave();
            return;
        }
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
}
