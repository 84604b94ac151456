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
            context = container.HostContext ??= new RequestContext(server);
        else
            context = new RequestContext(server);
        context.Initialize(contextFeatures);
        return context;
    }

    public Task ProcessRequestAsync(RequestContext context)
    {
        if (server.Settings.AccessLog) return ProcessLoggedAsync(context);
        var handled = server.Pipeline(context.Request, context.Response);
        if (handled.IsCompletedSuccessfully && context.Response.BackgroundTasks is null)
            return ResponseWriter.WriteAsync(context);
        return ProcessSlowAsync(context, handled);
    }

    private async Task ProcessSlowAsync(RequestContext context, Task handled)
    {
        await handled;
        await ResponseWriter.WriteAsync(context);
        await RunBackgroundAsync(context);
    }

    private async Task ProcessLoggedAsync(RequestContext context)
    {
        var start = Stopwatch.GetTimestamp();
        await server.Pipeline(context.Request, context.Response);
        try
        {
            await ResponseWriter.WriteAsync(context);
        }
        finally
        {
            var request = context.Request;
            server.AccessLog.LogInformation("{Method} {Path} {Status} {Elapsed:0.0} ms",
                request.Method, request.PathBase + request.Path, context.ResponseFeature.StatusCode, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        await RunBackgroundAsync(context);
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

    public void DisposeContext(RequestContext context, Exception? exception)
    {
        var reset = context.ResetAsync();
        if (!reset.IsCompletedSuccessfully) reset.AsTask().GetAwaiter().GetResult();
    }
}
