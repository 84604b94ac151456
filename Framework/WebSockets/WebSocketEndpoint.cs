using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Runs a WebSocket route: handshake, the user's handler, close codes (1011 on an unhandled exception).</summary>
internal static class WebSocketEndpoint
{
    /// <summary>A browser sends the page's origin, and the user's cookies, with every handshake (CORS does not apply to
    /// WebSockets): without a check, any site could open one as the user (cross-site WebSocket hijacking). Allowed: no
    /// Origin (not a browser), the request's own origin, an origin of <see cref="Settings.WebSocketOrigins"/>, else of the
    /// CORS settings.</summary>
    private static bool OriginAllowed(Request req)
    {
        var origin = req.Headers["Origin"];
        if (origin is null) return true;
        var settings = req.Context.Server.Settings;
        return CrossOrigin.IsOwnOrListed(origin, req, settings.WebSocketOrigins ?? settings.Cors?.AllowOrigins);
    }

    /// <summary>An error's detail as a close reason: at most 123 bytes of UTF-8 (RFC 6455 section 5.5: a control frame's
    /// payload is at most 125 bytes, 2 of them the code).</summary>
    internal static string CloseReason(object? detail)
    {
        var text = detail switch
        {
            null => "Invalid message.",
            string message => message,
            IEnumerable<KeyValuePair<string, string>> members => string.Join(" ", members.Select(m => m.Key.Length == 0 ? m.Value : $"{m.Key}: {m.Value}")),
            _ => "Invalid message.",
        };
        if (System.Text.Encoding.UTF8.GetByteCount(text) <= 123) return text;
        var end = 120;
        while (System.Text.Encoding.UTF8.GetByteCount(text.AsSpan(0, end)) > 120 || char.IsHighSurrogate(text[end - 1])) end--;
        return text[..end] + "…";
    }

    public static async Task RunAsync(Request req, Response res, WebSocketBinding handler, bool autoAccept, string valueType, int[] caughtCloseCodes)
    {
        if (!WebSocketHandshake.IsUpgrade(req)) throw WebSocketHandshake.UpgradeRequired(req);
        if (!OriginAllowed(req))
            throw HandshakeRefusals.Refuse(req, 403, $"WebSocket connections from origin '{req.Headers["Origin"]}' are not allowed: it is not this app's own origin ({req.Url.Scheme}://{req.Url.Authority}) — behind a proxy, pass the host with its port (nginx: proxy_set_header Host $http_host) — nor listed in Settings.WebSocketOrigins.");
        object?[] arguments;
        try
        {
            arguments = handler.Bind(req);
        }
        catch (HttpError error) when (error.StatusCode == 400)
        {
            // Bocadillo: a route parameter that does not convert refuses the handshake (403), with the same detail.
            req.Context.Server.HandshakeRefusals.Refused(req, 403, error.Detail);
            throw new HttpError(403, error.Detail);
        }
        var ws = new WebSocket(req, valueType, WebSocketHandshake.Acceptor(req.Context));
        var server = req.Context.Server;
        CancellationTokenRegistration goingAway = default;
        var expiry = req.CredentialDeadlineMs() is var deadline and not 0 ? new WebSocketExpiry(ws, deadline) : null;
        try
        {
            // Access never outlives what granted it: the socket closes (1008) when its credential expires.
            if (expiry is not null) server.Heartbeat.Add(expiry, TimeSpan.FromSeconds(4));
            if (autoAccept) await ws.AcceptAsync();
            var handled = handler.Invoke(ws, arguments);
            // Accepted (by now, or later by the handler): a stopping server closes it with 1001 Going Away, not a dropped socket.
            goingAway = server.Stopping.Register(static state => _ = ((WebSocket)state!).CloseAndDropAsync(1001, "Server shutting down."), ws);
            await handled;
            if (!ws.Accepted)
            {
                server.HandshakeRefusals.Refused(req, 403, ws.RejectionReason);
                if (ws.RejectionReason is { } reason) throw new HttpError(403, reason);
                res.StatusCode = 403;
                return;
            }
            await ws.CloseAsync(1000);
        }
        catch (WebSocketDisconnect e) when (Array.IndexOf(caughtCloseCodes, e.Code) >= 0 || e.Code == ws.ClosedByServer)
        {
            // The client closed with a code the route expects, or the server closed it itself (shutdown, limits): a normal end.
        }
        catch (Exception e) when (ws.ClosedByServer != 0 && e is OperationCanceledException or WebSocketDisconnect)
        {
        }
        catch (WebSocketDisconnect e) when (e.Code == 1006)
        {
            // The client vanished without a close frame (a phone losing signal, a closed laptop): a disconnect, not a server
            // error, so no stack trace. The handler did not catch it; that is the app's choice, not a fault.
            server.Log.LogInformation("WebSocket client of {Path} closed the connection without a close frame (1006)", req.Path);
        }
        catch (HttpError e) when (ws.Accepted && e.Status == 400 && ws.RawSocket is { State: WebSocketState.Open or WebSocketState.CloseReceived })
        {
            // A message the handler did not accept and did not answer (ReceiveJsonAsync's WebSocketJsonException, or the app's
            // own Validation.Check): the client's fault, so it is told why — 1003, Unsupported Data (RFC 6455 section 7.4.1).
            req.Context.Server.Log.LogInformation("WebSocket handler for {Path} did not accept a message; closing with 1003: {Reason}", req.Path, CloseReason(e.Detail));
            await ws.CloseAsync(1003, CloseReason(e.Detail));
        }
        catch (Exception e) when (ws.Accepted && e is not OperationCanceledException)
        {
            req.Context.Server.Log.LogError(e, "WebSocket handler for {Path} failed; closing with 1011", req.Path);
            try
            {
                if (ws.RawSocket is { State: WebSocketState.Open or WebSocketState.CloseReceived } socket)
                    await socket.CloseAsync(WebSocketCloseStatus.InternalServerError, "Internal error", CancellationToken.None);
            }
            catch (Exception)
            {
                // The client is gone; nothing more to tell it.
            }
        }
        finally
        {
            if (expiry is not null) server.Heartbeat.Remove(expiry);
            await goingAway.DisposeAsync();
            if (ws.RawSocket is { } socket)
            {
                // A handler that ended on the stopping token (before the 1001 went out) still leaves with a close frame.
                if (server.Stopping.IsCancellationRequested) await ws.CloseAndDropAsync(1001, "Server shutting down.");
                await ws.FinishCloseAsync();
                server.WebSocketClosed();
                socket.Dispose();
            }
        }
    }
}
