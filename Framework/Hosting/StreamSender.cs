using System.Text;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Writes <c>res.Stream(...)</c>: headers at once, then each item written and flushed as it is produced.</summary>
internal static class StreamSender
{
    public static async Task SendAsync(RequestContext context, object source)
    {
        var headers = context.ResponseFeature.Headers;
        if (headers.ContentType.Count == 0)
            headers.ContentType = source is IAsyncEnumerable<string> ? MediaTypes.Text : "application/octet-stream";
        headers.ContentLength = null;
        if (context.IsHead) return;

        var server = context.Server;
        server.StreamOpened();
        var writer = context.BodyFeature.Writer;
        var ct = context.Aborted;
        try
        {
            await context.BodyFeature.StartAsync(ct);
            switch (source)
            {
                case IAsyncEnumerable<string> strings:
                    await foreach (var item in strings.WithCancellation(ct))
                    {
                        Encoding.UTF8.GetBytes(item, writer);
                        if (!await FlushAsync(context)) break;
                    }
                    break;
                case IAsyncEnumerable<byte[]> arrays:
                    await foreach (var item in arrays.WithCancellation(ct))
                    {
                        writer.WriteAll(item);
                        if (!await FlushAsync(context)) break;
                    }
                    break;
                case IAsyncEnumerable<ReadOnlyMemory<byte>> memories:
                    await foreach (var item in memories.WithCancellation(ct))
                    {
                        writer.WriteAll(item.Span);
                        if (!await FlushAsync(context)) break;
                    }
                    break;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The status line is gone: aborting tells the client the body is incomplete instead of ending it as if whole.
            server.Log.LogError(e, "Response stream for {Path} failed; the connection is aborted", context.Request.Path);
            context.Abort();
        }
        finally
        {
            server.StreamClosed();
        }
    }

    /// <summary>Flushes, disconnecting a client that has not taken the data within the write timeout. False when the client is gone.</summary>
    public static async ValueTask<bool> FlushAsync(RequestContext context)
    {
#pragma warning disable CA2012 // Read once on the synchronous path, converted once on the other.
        var flush = context.BodyFeature.Writer.FlushAsync(context.Aborted);
        if (flush.IsCompletedSuccessfully)
        {
            var done = flush.Result;
            return !done.IsCompleted && !done.IsCanceled;
        }
        var pending = flush.AsTask();
#pragma warning restore CA2012
        try
        {
            var result = await pending.WaitAsync(context.Server.Settings.StreamWriteTimeout);
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (TimeoutException)
        {
            context.Server.Log.LogWarning("Client {Client} did not read {Path} for {Timeout}; disconnecting it", context.Request.Client, context.Request.Path, context.Server.Settings.StreamWriteTimeout);
            context.Abort();
            return false;
        }
    }
}
