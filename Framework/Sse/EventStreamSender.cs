using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Writes <c>res.EventStream(...)</c>: SSE headers at once, each event flushed as it is yielded, pings when idle, cleanup on disconnect or stop.</summary>
internal static class EventStreamSender
{
    public static readonly TimeSpan DefaultPing = TimeSpan.FromSeconds(15);
    private const int MaxEventsPerFlush = 64;
    private static ReadOnlySpan<byte> PingBytes => ": ping\n\n"u8;

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

        var server = context.Server;
        var interval = ping ?? DefaultPing;
        var ct = context.Aborted;
        var writer = context.BodyFeature.Writer;
        server.StreamOpened();
        IAsyncEnumerator<ServerEvent>? enumerator = null;
        Task<bool>? pending = null;
        try
        {
            context.BodyFeature.DisableBuffering();
            await context.BodyFeature.StartAsync(ct);
            await writer.FlushAsync(ct);
            enumerator = events.GetAsyncEnumerator(ct);
            var lastWrite = Environment.TickCount64;
            Task? timer = null;
            var unflushed = 0;
            while (!ct.IsCancellationRequested)
            {
                var next = enumerator.MoveNextAsync();
                bool hasNext;
                if (next.IsCompleted)
                {
                    hasNext = next.Result;
                }
                else
                {
                    // The generator is about to wait: everything it yielded so far goes out now.
                    if (unflushed > 0)
                    {
                        unflushed = 0;
                        if (!await StreamSender.FlushAsync(context)) return;
                        lastWrite = Environment.TickCount64;
                    }
                    pending = next.AsTask();
                    while (true)
                    {
                        var idle = TimeSpan.FromMilliseconds(Environment.TickCount64 - lastWrite);
                        timer ??= Task.Delay(idle >= interval ? TimeSpan.Zero : interval - idle, ct);
                        if (await Task.WhenAny(pending, timer) == pending) break;
                        timer = null;
                        if (ct.IsCancellationRequested) return;
                        if (TimeSpan.FromMilliseconds(Environment.TickCount64 - lastWrite) >= interval)
                        {
                            // Pings share this loop with events, so they never interleave with an event's lines.
                            writer.WriteAll(PingBytes);
                            if (!await StreamSender.FlushAsync(context)) return;
                            lastWrite = Environment.TickCount64;
                        }
                    }
                    hasNext = await pending;
                    pending = null;
                }
                if (!hasNext) break;
                var evt = enumerator.Current ?? throw new InvalidOperationException("An event stream yielded null; yield a ServerEvent.");
                evt.WriteTo(writer);
                // Events yielded back to back, without the generator awaiting, share one flush (up to a small batch):
                // none of them waits for an event that is not ready yet.
                if (++unflushed >= MaxEventsPerFlush)
                {
                    unflushed = 0;
                    if (!await StreamSender.FlushAsync(context)) break;
                    lastWrite = Environment.TickCount64;
                }
            }
            if (unflushed > 0) await StreamSender.FlushAsync(context);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            server.Log.LogError(e, "Event stream for {Path} failed; the stream is ended", context.Request.Path);
            pending = null;
        }
        finally
        {
            server.StreamClosed();
            if (enumerator is not null) await DisposeAsync(context, enumerator, pending);
        }
    }

    private static async Task DisposeAsync(RequestContext context, IAsyncEnumerator<ServerEvent> enumerator, Task<bool>? pending)
    {
        try
        {
            if (pending is not null)
            {
                // The generator is still awaiting something that ignores its token: give it a moment, then leave it.
                try
                {
                    await pending.WaitAsync(TimeSpan.FromSeconds(1));
                }
                catch (TimeoutException)
                {
                    context.Server.Log.LogWarning("An event stream generator for {Path} ignores its cancellation token; it could not be disposed. Pass [EnumeratorCancellation] CancellationToken to what it awaits.", context.Request.Path);
                    return;
                }
                catch (Exception)
                {
                    // The generator ended with its cancellation (or another) exception: it is finished, disposal is safe.
                }
            }
            await enumerator.DisposeAsync();
        }
        catch (Exception e)
        {
            context.Server.Log.LogError(e, "Disposing the event stream generator for {Path} failed", context.Request.Path);
        }
    }
}
