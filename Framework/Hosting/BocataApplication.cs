using System.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Abstractions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Bocata's <see cref="IHttpApplication{TContext}"/>: Kestrel calls it for every request.</summary>
internal sealed class BocataApplication(ServerState server) : IHttpApplication<RequestContext>
{
    public RequestContext CreateContext(IFeatureCollection contextFeatures)
    {
        // Kestrel keeps one host context per connection (and per HTTP/2 stream) for reuse: no per-request allocation of our wrappers.
        RequestContext context;
        if (contextFeatures is IHostContextContainer<RequestContext> container)
            context = container.HostContext is { IsAbandoned: false } reused ? reused : container.HostContext = new RequestContext(server);
        else
            context = new RequestContext(server);
        context.Initialize(contextFeatures);
        return context;
    }

    public Task ProcessRequestAsync(RequestContext context)
    {
        if (Telemetry.RequestsObserved) return ProcessObservedAsync(context);
        var log = server.AccessLog;
        var start = log is null ? 0 : Stopwatch.GetTimestamp();
        var handled = server.Stopping.IsCancellationRequested ? Draining.RefuseAsync(context) : server.Pipeline(context.Request, context.Response);
        if (handled.IsCompletedSuccessfully && context.Response.BackgroundTasks is null)
        {
            // The common case, a handler that completes at once: no async state machine at all.
            var written = WriteGuarded(context);
            if (!written.IsCompletedSuccessfully) return FinishAsync(context, written, start);
            log?.Write(context.Request, context.ResponseFeature.StatusCode, start);
            return Task.CompletedTask;
        }
        return ProcessSlowAsync(context, handled, start);
    }

    /// <summary>A write that did not complete at once (an event stream, a large body): its failure handled as
    /// <see cref="WriteFailedAsync"/> says, then the access log. One state machine per streaming response, not two.</summary>
    private async Task FinishAsync(RequestContext context, Task written, long start)
    {
        try
        {
            await written;
        }
        catch (Exception e)
        {
            await WriteFailedAsync(context, e);
        }
        finally
        {
            server.AccessLog?.Write(context.Request, context.ResponseFeature.StatusCode, start);
        }
    }

    /// <summary>The same request path, measured: a server activity (continuing the caller's trace) and the request metrics.</summary>
    private Task ProcessObservedAsync(RequestContext context)
    {
        var req = context.Request;
        var method = new KeyValuePair<string, object?>("http.request.method", req.Method);
        Telemetry.ActiveRequests.Add(1, method);
        // Started here, synchronously, like ASP.NET Core's hosting: no async state machine (and no execution-context copy
        // for Activity.Current) when the handler and the write complete at once.
        var activity = Telemetry.StartRequest(req);
        // An activity keeps its own clock, which the duration histogram reuses; the access log needs ours.
        var start = activity is null || server.AccessLog is not null ? Stopwatch.GetTimestamp() : 0;
        var handled = server.Stopping.IsCancellationRequested ? Draining.RefuseAsync(context) : server.Pipeline(req, context.Response);
        if (handled.IsCompletedSuccessfully && context.Response.BackgroundTasks is null)
        {
            var written = WriteGuarded(context);
            if (written.IsCompletedSuccessfully)
            {
                server.AccessLog?.Write(req, context.ResponseFeature.StatusCode, start);
                Telemetry.EndRequest(activity, req, context.ResponseFeature.StatusCode, start);
                Telemetry.ActiveRequests.Add(-1, method);
                return Task.CompletedTask;
            }
            return ObservedSlowAsync(context, Task.CompletedTask, written, activity, method, start);
        }
        return ObservedSlowAsync(context, handled, null, activity, method, start);
    }

    private async Task ObservedSlowAsync(RequestContext context, Task handled, Task? written, System.Diagnostics.Activity? activity, KeyValuePair<string, object?> method, long start)
    {
        try
        {
            await handled;
            await FinishAsync(context, written ?? WriteGuarded(context), start);
        }
        finally
        {
            Telemetry.EndRequest(activity, context.Request, context.ResponseFeature.StatusCode, start);
            Telemetry.ActiveRequests.Add(-1, method);
        }
        await RunBackgroundAsync(context);
    }

    private async Task ProcessSlowAsync(RequestContext context, Task handled, long start)
    {
        await handled;
        await FinishAsync(context, WriteGuarded(context), start);
        await RunBackgroundAsync(context);
    }

    /// <summary>Starts writing the response; a failure thrown at once becomes <see cref="WriteFailedAsync"/>, a later one is
    /// handled by <see cref="FinishAsync"/>, the only caller that awaits a write that did not complete. No state machine when it completes at once.</summary>
    private Task WriteGuarded(RequestContext context)
    {
        try
        {
            return ResponseWriter.WriteAsync(context);
        }
        catch (Exception e)
        {
            return WriteFailedAsync(context, e);
        }
    }

    /// <summary>Writing the response failed (e.g. a value JSON cannot serialize): a plain 500 if nothing was sent yet, else abort.</summary>
    private Task WriteFailedAsync(RequestContext context, Exception e)
    {
        if (e is HttpError refused && !context.ResponseFeature.HasStarted)
        {
            // A body that refuses before its first byte (an event stream whose topic is not allowed): the error, as a handler's would be.
            context.Response.Clear();
            ErrorHandlers.ToJson(context.Request, context.Response, refused);
            return ResponseWriter.WriteAsync(context);
        }
        if (context.Aborted.IsCancellationRequested || e is OperationCanceledException || (e is IOException && context.ResponseFeature.HasStarted))
        {
            // The client left mid-response (a closed tab, a cancelled download) or the server is stopping: routine, not an error.
            server.Log.LogDebug("The response to {Method} {Path} was cut short: the client left or the server is stopping ({Reason})", context.Request.Method, context.Request.Path, e.GetType().Name);
            if (!context.ClientGone) context.Abort();
            return Task.CompletedTask;
        }
        server.Log.LogError(e, "Writing the response to {Method} {Path} failed", context.Request.Method, context.Request.Path);
        if (context.ResponseFeature.HasStarted)
        {
            context.Abort();
            return Task.CompletedTask;
        }
        context.Response.Clear();
        context.Response.StatusCode = 500;
        context.Response.Text = "500 Internal Server Error";
        return ResponseWriter.WriteAsync(context);
    }

    private async Task RunBackgroundAsync(RequestContext context)
    {
        if (context.Response.BackgroundTasks is not { } tasks) return;
        await context.BodyFeature.CompleteAsync();
        foreach (var task in tasks.ToArray())
        {
            try
            {
                await task();
            }
            catch (Exception e)
            {
                server.Log.LogError(e, "Background task failed after {Method} {Path}", context.Request.Method, context.Request.Path);
            }
        }
    }

    public void DisposeContext(RequestContext context, Exception? exception) => context.Reset();
}
