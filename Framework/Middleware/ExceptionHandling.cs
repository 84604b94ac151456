using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>The two error layers of the pipeline: user error handlers innermost, the 500 safety net outermost.</summary>
internal static class ExceptionHandling
{
    public delegate Task ErrorHandler(Request req, Response res, Exception error);

    /// <summary>Runs the registered handler for the exception's type (or its nearest base type); a handler's own exception escapes to the outer layer.</summary>
    public static Handler Inner(Handler next, IReadOnlyDictionary<Type, ErrorHandler> handlers) => (req, res) =>
    {
        // The common case completes synchronously without an exception: no async state machine for it.
        var task = Start(next, req, res);
        return task.IsCompletedSuccessfully ? task : HandleAsync(task, req, res, handlers);
    };

    private static Task Start(Handler next, Request req, Response res)
    {
        try
        {
            return next(req, res);
        }
        catch (Exception e)
        {
            return Task.FromException(e);
        }
    }

    private static async Task HandleAsync(Task task, Request req, Response res, IReadOnlyDictionary<Type, ErrorHandler> handlers)
    {
        try
        {
            await task;
        }
        catch (Exception e) when (e is not HandlerFailedException && !Started(req) && Find(handlers, e.GetType()) is not null)
        {
            res.Clear();
            try
            {
                if (e is HttpError http)
                    foreach (var (name, value) in http.Headers) res.Headers[name] = value;
                await Find(handlers, e.GetType())!(req, res, e);
            }
            catch (Exception failure)
            {
                // Never handled again: an error handler that throws (even its own exception) ends in a 500, not a loop.
                throw new HandlerFailedException(failure);
            }
        }
    }

    /// <summary>Anything unhandled becomes a plain-text 500 for the client and a logged stack trace for the server.</summary>
    public static Handler Outer(Handler next, ILogger logger) => (req, res) =>
    {
        var task = Start(next, req, res);
        return task.IsCompletedSuccessfully ? task : RecoverAsync(task, req, res, logger);
    };

    private static async Task RecoverAsync(Task task, Request req, Response res, ILogger logger)
    {
        try
        {
            await task;
        }
        catch (OperationCanceledException) when (req.Aborted.IsCancellationRequested)
        {
            // The client left or the server is stopping: nobody is waiting for an answer (and an upgraded WebSocket's
            // response went out long ago: its headers are read-only).
            if (Started(req)) return;
            res.Clear();
            res.StatusCode = 499;
        }
        catch (Exception e)
        {
            if (e is HandlerFailedException { InnerException: { } inner }) e = inner;
            System.Diagnostics.Activity.Current?.AddException(e);
            logger.LogError(e, "Unhandled exception in {Method} {Path}", req.Method, req.PathBase + req.Path);
            if (Started(req))
            {
                // Too late for a 500: the status line is gone. Aborting tells the client the response is incomplete.
                req.Context.Abort();
                return;
            }
            res.Clear();
            res.StatusCode = 500;
            res.Text = "500 Internal Server Error";
        }
    }

    private static bool Started(Request req) => req.Context.ResponseFeature.HasStarted;

    private sealed class HandlerFailedException(Exception inner) : Exception("An error handler failed.", inner);

    private static ErrorHandler? Find(IReadOnlyDictionary<Type, ErrorHandler> handlers, Type? type)
    {
        for (; type is not null; type = type.BaseType)
            if (handlers.TryGetValue(type, out var handler)) return handler;
        return null;
    }
}
