using Microsoft.Extensions.Logging;

// CA2012: a step is read only once it completed, observed through exactly one OnCompleted.
#pragma warning disable CA2012

namespace Bocata;

/// <summary>
/// Writes <c>res.EventStream(...)</c>: SSE headers at once, each event flushed as it is yielded, pings when idle, cleanup on
/// disconnect or stop. One loop owns the response writer: the app-wide heartbeat only wakes it to ping, so nothing can
/// write to the connection once the loop has ended (not even into the next request on a keep-alive connection).
/// </summary>
internal sealed class EventStreamSender : IHeartbeatClient
{
    public static readonly TimeSpan DefaultPing = TimeSpan.FromSeconds(15);
    // Back-to-back events share a flush until this many bytes are waiting: bounded by bytes, not by count.
    internal const int MaxUnflushedBytes = 64 * 1024;
    internal static ReadOnlySpan<byte> PingBytes => ": ping\n\n"u8;

    private readonly RequestContext _context;
    private readonly long _intervalMs;
    private readonly StreamSignal _signal = new();
    private readonly Action _onStep;
    private long _lastWrite;
    // When the credential the stream was opened with expires (TickCount64), or 0; _expired once it has.
    private long _deadlineMs;
    private int _expired;
    private int _pingDue;
    private int _stepDone;
    private TaskCompletionSource? _stepWaiter;
    private CancellationToken _aborted;

    private EventStreamSender(RequestContext context, TimeSpan ping)
    {
        _context = context;
        _intervalMs = Math.Max(1, (long)ping.TotalMilliseconds);
        _lastWrite = Environment.TickCount64;
        _onStep = OnStep;
    }

    public HeartbeatNode? HeartbeatNode { get; set; }

    /// <summary>Test hook: runs on the heartbeat thread before a ping is requested (the old design wrote pings from here).</summary>
    internal static Action? BeforePingRequestForTests { get; set; }

    public static Task SendAsync(RequestContext context, IAsyncEnumerable<ServerEvent> events, TimeSpan? ping)
    {
        if (!context.IsHead && context.Server.Stopping.IsCancellationRequested) return RefuseWhileStoppingAsync(context);
        var headers = context.ResponseFeature.Headers;
        headers.ContentType = MediaTypes.EventStream;
        if (headers.CacheControl.Count == 0) headers.CacheControl = "no-cache";
        // nginx buffers proxied responses unless told not to; an event must reach the browser when it is sent.
        headers["X-Accel-Buffering"] = "no";
        headers.ContentLength = null;
        headers.ContentEncoding = default;
        // As Bocadillo (Starlette) sends it; a hop-by-hop header, so HTTP/1.1 only (illegal on HTTP/2).
        if (context.RequestFeature.Protocol == "HTTP/1.1") headers.Connection = "keep-alive";
        if (context.IsHead) return Task.CompletedTask;
        if (events is HubSubscription subscription) return subscription.SendAsync(context, ping ?? DefaultPing);
        return new EventStreamSender(context, ping ?? DefaultPing).RunAsync(events);
    }

    /// <summary>A stream opened while the app stops would hold the stop open until its timeout: 503 and come back later.</summary>
    private static Task RefuseWhileStoppingAsync(RequestContext context)
    {
        var feature = context.ResponseFeature;
        feature.StatusCode = 503;
        feature.Headers.ContentType = MediaTypes.Text;
        feature.Headers.CacheControl = "no-store";
        feature.Headers.RetryAfter = "1";
        var body = "503 Service Unavailable: the server is restarting; reconnect shortly."u8;
        feature.Headers.ContentLength = body.Length;
        context.BodyFeature.Writer.WriteAll(body);
        return Task.CompletedTask;
    }

    /// <summary>Commits the SSE headers at once (the browser's <c>onopen</c> fires now), unbuffered from here on.</summary>
    internal static async Task StartAsync(RequestContext context, CancellationToken ct)
    {
        context.BodyFeature.DisableBuffering();
        await context.BodyFeature.StartAsync(ct);
        await context.BodyFeature.Writer.FlushAsync(ct);
    }

    private async Task RunAsync(IAsyncEnumerable<ServerEvent> events)
    {
        var context = _context;
        var server = context.Server;
        var ct = context.Aborted;
        var writer = context.BodyFeature.Writer;
        server.StreamOpened();
        // The generator's own token: cancelled on disconnect or stop, and also whenever this loop ends for another
        // reason (a failed flush), so a generator left waiting always wakes up, runs its finally, and can be disposed.
        using var generatorCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _aborted = ct;
        IAsyncEnumerator<ServerEvent>? enumerator = null;
        var stepPending = false;
        var (started, retrySet) = (false, false);
        try
        {
            await StartAsync(context, ct);
            started = true;
            _lastWrite = Environment.TickCount64;
            _deadlineMs = context.Request.CredentialDeadlineMs();
            server.Heartbeat.Add(this, TimeSpan.FromMilliseconds(_intervalMs));
            enumerator = events.GetAsyncEnumerator(generatorCts.Token);
            var unflushed = 0L;
            while (!ct.IsCancellationRequested && Volatile.Read(ref _expired) == 0)
            {
                var next = enumerator.MoveNextAsync();
                if (!next.IsCompleted)
                {
                    // The generator is about to wait. Its step is observed once, from here on, whatever ends the wait.
                    Volatile.Write(ref _stepDone, 0);
                    _signal.Reset();
                    next.GetAwaiter().UnsafeOnCompleted(_onStep);
                    stepPending = true;
                    if (unflushed > 0)
                    {
                        // Everything it yielded so far goes out now.
                        unflushed = 0;
                        if (!await FlushAsync()) break;
                    }
                    if (!await WaitForStepAsync(ct)) break;
                    stepPending = false;
                }
                if (!next.GetAwaiter().GetResult()) break;
                var evt = enumerator.Current ?? throw new InvalidOperationException("An event stream yielded null; yield a ServerEvent.");
                var before = writer.UnflushedBytes;
                evt.WriteTo(writer);
                retrySet |= evt.Retry is not null;
                Telemetry.EventsSent.Add(1);
                unflushed += writer.UnflushedBytes - before;
                // Events yielded back to back, without the generator awaiting, share one flush until the bytes bound.
                if (unflushed >= MaxUnflushedBytes)
                {
                    unflushed = 0;
                    if (!await FlushAsync()) break;
                }
            }
            if (unflushed > 0 && !ct.IsCancellationRequested) await FlushAsync();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            server.Log.LogError(e, "Event stream for {Path} failed; the stream is ended", context.Request.Path);
        }
        finally
        {
            _signal.Close();
            server.Heartbeat.Remove(this);
            // Ended by the stop: reconnect soon (elsewhere), unless the stream chose its own retry.
            if (started && !retrySet) await ReconnectNotice.SendAsync(context);
            server.StreamClosed();
            // Synchronous: when this loop runs inside the token's own cancellation (the generator just ended on it),
            // awaiting CancelAsync would wait for that very cancellation to return.
            if (!generatorCts.IsCancellationRequested) generatorCts.Cancel();
            if (enumerator is not null) await DisposeAsync(enumerator, stepPending);
        }
    }

    /// <summary>
    /// Waits for the generator's step, writing pings while it is idle. The step's completion is observed exactly once
    /// (one registration per step); the heartbeat only sets a flag and wakes this loop. False when the stream must end.
    /// </summary>
    private async ValueTask<bool> WaitForStepAsync(CancellationToken ct)
    {
        while (true)
        {
            await _signal.WaitAsync();
            if (Volatile.Read(ref _stepDone) == 1) return true;
            if (ct.IsCancellationRequested || Volatile.Read(ref _expired) == 1) return false;
            _signal.Reset();
            if (Interlocked.Exchange(ref _pingDue, 0) == 1 && Environment.TickCount64 - Volatile.Read(ref _lastWrite) >= _intervalMs)
            {
                _context.BodyFeature.Writer.WriteAll(PingBytes);
                if (!await FlushAsync()) return false;
            }
            // A step that completed while this loop was pinging found the signal already set: look again before waiting. The
            // arming is taken back first; if the step's wake-up already won it, the loop awaits that wake-up (done at once)
            // instead of resetting the signal again while the wake-up is still completing.
            if (Volatile.Read(ref _stepDone) == 1 && _signal.TryDisarm()) return true;
        }
    }

    private void OnStep()
    {
        Interlocked.Exchange(ref _stepDone, 1);
        Volatile.Read(ref _stepWaiter)?.TrySetResult();
        _signal.Set(inline: true);
    }

    public void OnHeartbeat(long nowMs)
    {
        // A generator that honours its token ends its step itself on disconnect or stop (and wakes this loop at once);
        // one that ignores it is left behind here, at the next tick.
        if (_aborted.IsCancellationRequested)
        {
            _signal.Set();
            return;
        }
        // The credential the stream was opened with has expired: the stream ends (the client reconnects with a fresh one and
        // its Last-Event-ID), so access never outlives what granted it.
        if (_deadlineMs != 0 && nowMs >= _deadlineMs)
        {
            Volatile.Write(ref _expired, 1);
            _signal.Set();
            return;
        }
        if (nowMs - Volatile.Read(ref _lastWrite) < _intervalMs) return;
        BeforePingRequestForTests?.Invoke();
        Volatile.Write(ref _pingDue, 1);
        _signal.Set();
    }

    private async ValueTask<bool> FlushAsync()
    {
        var ok = await StreamSender.FlushAsync(_context);
        Volatile.Write(ref _lastWrite, Environment.TickCount64);
        return ok;
    }

    /// <summary>Disposes the generator; a step still running gets up to a second to notice its cancelled token first.</summary>
    private async Task DisposeAsync(IAsyncEnumerator<ServerEvent> enumerator, bool stepPending)
    {
        var context = _context;
        try
        {
            if (stepPending && Volatile.Read(ref _stepDone) == 0)
            {
                var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                // Full fences on both sides (here and in OnStep): each writes its flag before reading the other's, so at least
                // one of them sees the other and the waiter is completed. With plain volatile writes both reads could come
                // first (a store-load reordering x86 allows), and a stream whose step ended as it closed would be abandoned.
                Interlocked.Exchange(ref _stepWaiter, waiter);
                if (Volatile.Read(ref _stepDone) == 1) waiter.TrySetResult();
                try
                {
                    // A MoveNext is still running: its token is cancelled now, so it ends shortly; an iterator cannot be disposed mid-step.
                    await waiter.Task.WaitAsync(TimeSpan.FromSeconds(1));
                }
                catch (TimeoutException)
                {
                    // It still holds req and res: they must never show the next request Kestrel serves on this connection.
                    context.Abandon();
                    context.Server.Log.LogWarning("An event stream generator for {Path} ignores its cancellation token and could not be disposed; pass the [EnumeratorCancellation] token to what it awaits.", context.Request.Path);
                    return;
                }
            }
            await enumerator.DisposeAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            context.Server.Log.LogError(e, "Disposing the event stream generator for {Path} failed", context.Request.Path);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
