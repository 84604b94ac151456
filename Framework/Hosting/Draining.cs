namespace Bocata;

/// <summary>What the app answers while it stops: a request that arrives during the drain (on a keep-alive connection
/// opened before it) is refused with a 503 the client or proxy retries elsewhere, and the connection is closed.</summary>
internal static class Draining
{
    /// <summary>Sets the refusal on the response; the usual writer sends it (and the access log records it).</summary>
    public static Task RefuseAsync(RequestContext context)
    {
        var res = context.Response;
        ErrorHandlers.ToJson(context.Request, res, new HttpError(503, "The server is restarting; retry shortly."));
        res.Headers["Retry-After"] = "1";
        res.Headers["Cache-Control"] = "no-store";
        // Kestrel ends a keep-alive connection after a response that says so; a hop-by-hop header, so HTTP/1.1 only (HTTP/2
        // clients get Kestrel's GOAWAY instead).
        if (context.RequestFeature.Protocol == "HTTP/1.1") res.Headers["Connection"] = "close";
        return Task.CompletedTask;
    }
}
