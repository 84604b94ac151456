using System.Security.Cryptography;
using System.Text;

namespace Bocata;

/// <summary>The server side of the WebSocket opening handshake: RFC 6455 over HTTP/1.1 (Upgrade, 101) and RFC 8441 over HTTP/2
/// (extended CONNECT, 200), both on Kestrel's own features, as ASP.NET Core's WebSocket middleware does.</summary>
internal static class WebSocketHandshake
{
    // RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key.
    private const string Magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    public static bool IsUpgrade(Request req) =>
        req.Method switch
        {
            "GET" => req.Headers["Upgrade"] is { } upgrade && upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase)
                && req.Headers["Sec-WebSocket-Key"] is not null,
            "CONNECT" => req.Context.ExtendedConnect is { Protocol: { } protocol } && protocol.Equals("websocket", StringComparison.OrdinalIgnoreCase),
            _ => false,
        };

    public static Func<Task<System.Net.WebSockets.WebSocket>> Acceptor(RequestContext context) => async () =>
    {
        var server = context.Server;
        var settings = server.Settings;
        var request = context.Request;
        if (settings.MaxWebSocketConnections is { } max && server.OpenWebSockets >= max) throw Full(request);
        if (request.Headers["Sec-WebSocket-Version"] != "13")
        {
            var error = HandshakeRefusals.Refuse(request, 400, "Only WebSocket version 13 is supported.");
            error.Headers["Sec-WebSocket-Version"] = "13";
            throw error;
        }
        Stream stream;
        if (context.ExtendedConnect is { } connect)
        {
            stream = await connect.AcceptAsync();
        }
        else
        {
            var upgrade = context.UpgradeFeature ?? throw new HttpError(400, "This connection cannot be upgraded to a WebSocket.");
            var key = request.Headers["Sec-WebSocket-Key"]!;
#pragma warning disable CA5350 // RFC 6455 section 4.2.2 mandates SHA-1 for Sec-WebSocket-Accept; it is not used for security.
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key.Trim() + Magic)));
#pragma warning restore CA5350
            var headers = context.ResponseFeature.Headers;
            headers["Upgrade"] = "websocket";
            headers["Connection"] = "Upgrade";
            headers["Sec-WebSocket-Accept"] = accept;
            try
            {
                stream = await upgrade.UpgradeAsync();
            }
            catch (InvalidOperationException) when (!context.ResponseFeature.HasStarted)
            {
                // Kestrel's MaxConcurrentUpgradedConnections, reached between our count and the upgrade.
                headers.Remove("Upgrade");
                headers.Remove("Connection");
                headers.Remove("Sec-WebSocket-Accept");
                throw Full(request);
            }
        }
        var upgraded = new UpgradedStream(stream, context.Abort);
        return upgraded.Socket = System.Net.WebSockets.WebSocket.CreateFromStream(upgraded, new System.Net.WebSockets.WebSocketCreationOptions
        {
            IsServer = true,
            KeepAliveInterval = settings.WebSocketKeepAliveInterval,
            KeepAliveTimeout = settings.WebSocketKeepAliveTimeout,
        });
    };

    /// <summary>The answer to a plain request for a WebSocket route. A request that carries <c>Sec-WebSocket-Key</c> was a
    /// handshake whose <c>Upgrade</c> a proxy dropped (nginx forwards it only when told to): logged as a refusal.</summary>
    public static HttpError UpgradeRequired(Request req)
    {
        const string Message = "This endpoint speaks WebSocket: connect with a WebSocket client (Upgrade: websocket). " +
            "A proxy in between may have dropped the Upgrade header: see the nginx configuration in Bocata's deployment guide.";
        var error = req.Headers["Sec-WebSocket-Key"] is null ? new HttpError(426, Message) : HandshakeRefusals.Refuse(req, 426, Message);
        error.Headers["Upgrade"] = "websocket";
        return error;
    }

    private static HttpError Full(Request req)
    {
        var error = HandshakeRefusals.Refuse(req, 503, "Too many WebSocket connections: try again shortly.");
        error.Headers["Retry-After"] = "5";
        return error;
    }
}
