using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>The two error layers of the pipeline: user error handlers innermost, the 500 safety net outermost.</summary>
internal static class ExceptionHandling
{
    public delegate Task ErrorHandler(Request req, Response res, Exception error);

    /// <summary>Runs the registered handler for the exception's type (or its nearest base type); a handler's own exception escapes to the outer layer.</summary>
    public static Handler Inner(Handler next, IReadOnlyDictionary<Type, ErrorHandler> handlers) => async (req, res) =>
    {
        try
        {
            await next(req, res);
        }
        catch (Exception e) when (e is not HandlerFailedException && Find(handlers, e.GetType()) is not null)
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
    };

    /// <summary>Anything unhandled becomes a plain-text 500 for the client and a logged stack trace for the server.</summary>
    public static Handler Outer(Handler next, ILogger logger) => async (req, res) =>
    {
        try
        {
            await next(req, res);
        }
        catch (OperationCanceledException) when (req.Aborted.IsCancellationRequested)
        {
            // The client left or the server is stopping: nobody is waiting for an answer.
            res.Clear();
            res.StatusCode = 499;
        }
        catch (Exception e)
        {
            if (e is HandlerFailedException { InnerException: { } inner }) e = inner;
            logger.LogError(e, "Unhandled exception in {Method} {Path}", req.Method, req.PathBase + req.Path);
            res.Clear();
            res.StatusCode = 500;
            res.Text = "500 Internal Server Error";
        }
    };

    private sealed class HandlerFailedException(Exception inner) : Exception("An error handler failed.", inner);

    private static ErrorHandler? Find(IReadOnlyDictionary<Type, ErrorHandler> handlers, Type? type)
    {
        for (; type is not null; type = type.BaseType)
            if (handlers.TryGetValue(type, out var handler)) return handler;
        return null;
    }
}
