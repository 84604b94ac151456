using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Runs a WebSocket route: handshake, the user's handler, close codes (1011 on an unhandled exception).</summary>
internal static class WebSocketEndpoint
{
    public static async Task RunAsync(Request req, Response res, Func<WebSocket, Task> handler, bool autoAccept, string valueType, int[] caughtCloseCodes)
    {
        if (!WebSocketHandshake.IsUpgrade(req))
        {
            res.Headers["Upgrade"] = "websocket";
            throw new HttpError(426, "This endpoint speaks WebSocket: connect with a WebSocket client (Upgrade: websocket).");
        }
        var ws = new WebSocket(req, valueType, WebSocketHandshake.Acceptor(req.Context));
        try
        {
            if (autoAccept) await ws.AcceptAsync();
            await handler(ws);
            if (!ws.Accepted)
            {
                res.StatusCode = 403;
                return;
            }
            await ws.CloseAsync(1000);
        }
        catch (WebSocketDisconnect e) when (Array.IndexOf(caughtCloseCodes, e.Code) >= 0)
        {
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
            if (ws.RawSocket is not null)
            {
                Telemetry.WebSocketConnections.Add(-1);
                ws.RawSocket.Dispose();
            }
        }
    }
}
