namespace Bocata;

/// <summary>Bocadillo-style middleware: code that runs before and after every request that reaches the app.</summary>
public abstract class Middleware
{
    /// <summary>Runs before the route's handler. Return a response (usually <paramref name="res"/>) to answer now and skip the handler.</summary>
    public virtual Task<Response?> BeforeDispatchAsync(Request req, Response res) => Task.FromResult<Response?>(null);

    /// <summary>Runs after the handler, before the response is written; not when dispatching raised (an error handler answers then, as in Bocadillo).</summary>
    public virtual Task AfterDispatchAsync(Request req, Response res) => Task.CompletedTask;

    internal Handler Wrap(Handler next) => async (req, res) =>
    {
        if (await BeforeDispatchAsync(req, res) is not null) return;
        await next(req, res);
        await AfterDispatchAsync(req, res);
    };
}
