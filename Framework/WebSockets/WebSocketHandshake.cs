using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace Bocata;

/// <summary>The server side of the RFC 6455 opening handshake over Kestrel's upgrade feature.</summary>
internal static class WebSocketHandshake
{
    // RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key.
    private const string Magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    public static bool IsUpgrade(Request req) =>
        req.Method == "GET"
        && req.Headers["Upgrade"] is { } upgrade && upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase)
        && req.Headers["Sec-WebSocket-Key"] is not null;

    public static Func<Task<System.Net.WebSockets.WebSocket>> Acceptor(RequestContext context) => async () =>
    {
        var upgrade = context.UpgradeFeature ?? throw new InvalidOperationException("This connection cannot be upgraded (HTTP/2 WebSockets are not supported).");
        var request = context.Request;
        if (request.Headers["Sec-WebSocket-Version"] != "13")
            throw new HttpError(400, "Only WebSocket version 13 is supported.");
        var key = request.Headers["Sec-WebSocket-Key"]!;
#pragma warning disable CA5350 // RFC 6455 section 4.2.2 mandates SHA-1 for Sec-WebSocket-Accept; it is not used for security.
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key.Trim() + Magic)));
#pragma warning restore CA5350
        var headers = context.ResponseFeature.Headers;
        headers["Upgrade"] = "websocket";
        headers["Connection"] = "Upgrade";
        headers["Sec-WebSocket-Accept"] = accept;
        var stream = await upgrade.UpgradeAsync();
        return System.Net.WebSockets.WebSocket.CreateFromStream(stream, new System.Net.WebSockets.WebSocketCreationOptions
        {
            IsServer = true,
            KeepAliveInterval = TimeSpan.FromSeconds(30),
        });
    };
}
