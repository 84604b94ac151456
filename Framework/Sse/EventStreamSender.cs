using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Writes <c>res.EventStream(...)</c>: SSE headers at once, each event flushed as it is yielded, pings when idle, cleanup on disconnect or stop.</summary>
internal sealed class EventStreamSender : IDisposable
{
    public static readonly TimeSpan DefaultPing = TimeSpan.FromSeconds(15);
    private const int MaxEventsPerFlush = 64;
    private static ReadOnlySpan<byte> PingBytes => ": ping\n\n"u8;

    private readonly RequestContext _context;
    private readonly long _intervalMs;
    // Events and pings write to one pipe from two places (this loop and the ping timer): one writer at a time,
    // and always whole events, so a ping can never land inside an event.
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Timer? _pingTimer;
    private long _lastWrite;

    private EventStreamSender(RequestContext context, TimeSpan ping)
    {
        _context = context;
        _intervalMs = Math.Max(1, (long)ping.TotalMilliseconds);
        _lastWrite = Environment.TickCount64;
    }

    public static async Task SendAsync(RequestContext context, IAsyncEnumerable<ServerEvent> events, TimeSpan? ping)
    {
        var headers = context.ResponseFeature.Headers;
        headers.ContentType = MediaTypes.EventStream;
        if (headers.CacheControl.Count == 0) headers.CacheControl = "no-cache";
        // nginx buffers proxied responses unless told not to; an event must reach the browser when it is sent.
        headers["X-Accel-Buffering"] = "no";
        headers.ContentLength = null;
        headers.ContentEncoding = default;
        if (context.IsHead) return;

        using var sender = new EventStreamSender(context, ping ?? DefaultPing);
        await sender.RunAsync(events);
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
        IAsyncEnumerator<ServerEvent>? enumerator = null;
        Task<bool>? pending = null;
        try
        {
            context.BodyFeature.DisableBuffering();
            await context.BodyFeature.StartAsync(ct);
            await writer.FlushAsync(ct);
            enumerator = events.GetAsyncEnumerator(generatorCts.Token);
            // One timer per stream, checking idleness four times per interval: no task or timer is created per event.
            var period = TimeSpan.FromMilliseconds(Math.Max(1, _intervalMs / 4));
            _pingTimer = new Timer(static state => ((EventStreamSender)state!).PingIfIdle(), this, period, period);
            var unflushed = 0;
            while (!ct.IsCancellationRequested)
            {
                var next = enumerator.MoveNextAsync();
                if (!next.IsCompleted && unflushed > 0)
                {
                    // The generator is about to wait: everything it yielded so far goes out now.
                    unflushed = 0;
                    bool flushed;
                    try
                    {
                        flushed = await FlushLockedAsync();
                    }
                    catch
                    {
                        pending = next.AsTask();
                        throw;
                    }
                    if (!flushed)
                    {
                        pending = next.AsTask();
                        break;
                    }
                }
                if (!await next) break;
                var evt = enumerator.Current ?? throw new InvalidOperationException("An event stream yielded null; yield a ServerEvent.");
                await _writeLock.WaitAsync(CancellationToken.None);
                try
                {
                    evt.WriteTo(writer);
                }
                finally
                {
                    _writeLock.Release();
                }
                // Events yielded back to back, without the generator awaiting, share one flush (up to a small batch):
                // none of them waits for an event that is not ready yet.
                if (++unflushed >= MaxEventsPerFlush)
                {
                    unflushed = 0;
                    if (!await FlushLockedAsync()) break;
                }
            }
            if (unflushed > 0) await FlushLockedAsync();
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
            _pingTimer?.Dispose();
            await generatorCts.CancelAsync();
            server.StreamClosed();
            if (enumerator is not null) await DisposeAsync(context, enumerator, pending);
        }
    }

    private async ValueTask<bool> FlushLockedAsync()
    {
        await _writeLock.WaitAsync(CancellationToken.None);
        try
        {
            var ok = await StreamSender.FlushAsync(_context);
            Volatile.Write(ref _lastWrite, Environment.TickCount64);
            return ok;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void PingIfIdle()
    {
        if (Environment.TickCount64 - Volatile.Read(ref _lastWrite) < _intervalMs) return;
        // Busy writing or flushing means data is moving: no ping needed now.
        if (!_writeLock.Wait(0)) return;
        _ = PingAsync();
    }

    private async Task PingAsync()
    {
        try
        {
            if (_context.Aborted.IsCancellationRequested) return;
            _context.BodyFeature.Writer.WriteAll(PingBytes);
            await StreamSender.FlushAsync(_context);
            Volatile.Write(ref _lastWrite, Environment.TickCount64);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The stream ended while the ping was being written.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private static async Task DisposeAsync(RequestContext context, IAsyncEnumerator<ServerEvent> enumerator, Task<bool>? pending)
    {
        try
        {
            if (pending is not null)
            {
                // A MoveNext is still running: its token is cancelled now, so it ends shortly; an iterator cannot be disposed mid-step.
                try
                {
                    await pending.WaitAsync(TimeSpan.FromSeconds(1));
                }
                catch (TimeoutException)
                {
                    context.Server.Log.LogWarning("An event stream generator for {Path} ignores its cancellation token and could not be disposed; pass the [EnumeratorCancellation] token to what it awaits.", context.Request.Path);
                    return;
                }
                catch (Exception)
                {
                    // It ended with its cancellation (or another) exception: it is finished, disposal is safe.
                }
            }
            await enumerator.DisposeAsync();
        }
        catch (Exception e)
        {
            context.Server.Log.LogError(e, "Disposing the event stream generator for {Path} failed", context.Request.Path);
        }
    }

    // The semaphore is not disposed: a ping that raced with the end of the stream may still release it (it has no wait handle to free).
    public void Dispose() => _pingTimer?.Dispose();
}
