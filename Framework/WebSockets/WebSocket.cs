using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Bocata;

/// <summary>A WebSocket connection handed to a <c>app.WebSocketRoute</c> handler: accept, receive, send, close; <c>await foreach</c> reads messages.</summary>
public sealed class WebSocket : IAsyncEnumerable<object>
{
    private readonly Request _request;
    private readonly Func<Task<System.Net.WebSockets.WebSocket>> _accept;
    private System.Net.WebSockets.WebSocket? _socket;
    private bool _rejected;

    internal WebSocket(Request request, string valueType, Func<Task<System.Net.WebSockets.WebSocket>> accept)
    {
        _request = request;
        ValueType = valueType;
        _accept = accept;
    }

    /// <summary>The URL the client connected to.</summary>
    public Uri Url => _url ??= new UriBuilder(_request.Url) { Scheme = _request.Url.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;

    private Uri? _url;

    /// <summary>The handshake request's headers.</summary>
    public Headers Headers => _request.Headers;

    /// <summary>The handshake request's query parameters.</summary>
    public QueryParams QueryParams => _request.QueryParams;

    /// <summary>The route's parameters.</summary>
    public IReadOnlyDictionary<string, string> PathParams => _request.PathParams;

    /// <summary>What <c>await foreach</c> yields: "text" (strings), "bytes" (byte arrays) or "json" (<see cref="JsonElement"/>).</summary>
    public string ValueType { get; }

    /// <summary>Whether the handshake was accepted.</summary>
    public bool Accepted => _socket is not null;

    internal bool Rejected => _rejected;

    /// <summary>Completes the handshake (101 Switching Protocols). Called for you unless the route has <c>autoAccept: false</c>.</summary>
    public async Task AcceptAsync()
    {
        if (_rejected) throw new InvalidOperationException("This WebSocket was rejected; it cannot be accepted.");
        if (_socket is not null) return;
        _socket = await _accept();
        Telemetry.WebSocketConnections.Add(1);
    }

    /// <summary>Refuses the handshake with 403 Forbidden.</summary>
    public Task RejectAsync()
    {
        if (_socket is not null) throw new InvalidOperationException("This WebSocket is already accepted: close it with CloseAsync(code) instead.");
        _rejected = true;
        return Task.CompletedTask;
    }

    /// <summary>Closes the connection with <paramref name="code"/> (1000 = normal).</summary>
    public async Task CloseAsync(int code = 1000, string? reason = null)
    {
        var socket = Socket;
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            await socket.CloseAsync((WebSocketCloseStatus)code, reason, _request.Aborted);
    }

    /// <summary>Receives one text message; throws <see cref="WebSocketDisconnect"/> when the client closes.</summary>
    public async Task<string> ReceiveTextAsync() => Encoding.UTF8.GetString(await ReceiveAsync(WebSocketMessageType.Text));

    /// <summary>Receives one binary message; throws <see cref="WebSocketDisconnect"/> when the client closes.</summary>
    public Task<byte[]> ReceiveBytesAsync() => ReceiveAsync(WebSocketMessageType.Binary);

    /// <summary>Receives one text message parsed as JSON; malformed JSON closes with 1003.</summary>
    public async Task<T> ReceiveJsonAsync<T>()
    {
        var bytes = await ReceiveAsync(WebSocketMessageType.Text);
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, BocataJson.Options) ?? throw new JsonException("null");
        }
        catch (JsonException)
        {
            await CloseAsync(1003, "JSON is malformed.");
            throw new WebSocketDisconnect(1003);
        }
    }

    /// <summary>Sends a text message.</summary>
    public Task SendTextAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    /// <summary>Sends a binary message.</summary>
    public Task SendBytesAsync(byte[] bytes) => SendAsync(bytes, WebSocketMessageType.Binary);

    /// <summary>Sends a value as a JSON text message.</summary>
    public Task SendJsonAsync(object? value) =>
        SendAsync(JsonSerializer.SerializeToUtf8Bytes(value, value?.GetType() ?? typeof(object), BocataJson.Options), WebSocketMessageType.Text);

    /// <summary>Reads messages (as <see cref="ValueType"/> says) until the client closes.</summary>
    public async IAsyncEnumerator<object> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            object message;
            try
            {
                message = ValueType switch
                {
                    "bytes" => await ReceiveBytesAsync(),
                    "json" => await ReceiveJsonAsync<JsonElement>(),
                    _ => await ReceiveTextAsync(),
                };
            }
            catch (WebSocketDisconnect)
            {
                yield break;
            }
            yield return message;
        }
    }

    internal System.Net.WebSockets.WebSocket? RawSocket => _socket;

    private System.Net.WebSockets.WebSocket Socket =>
        _socket ?? throw new InvalidOperationException("Accept the WebSocket first: await ws.AcceptAsync().");

    private async Task SendAsync(byte[] payload, WebSocketMessageType type) =>
        await Socket.SendAsync(payload, type, endOfMessage: true, _request.Aborted);

    private async Task<byte[]> ReceiveAsync(WebSocketMessageType expected)
    {
        var socket = Socket;
        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        while (true)
        {
            ValueWebSocketReceiveResult result;
            try
            {
                result = await socket.ReceiveAsync(chunk.AsMemory(), _request.Aborted);
            }
            catch (WebSocketException)
            {
                throw new WebSocketDisconnect(1006);
            }
            if (result.MessageType == WebSocketMessageType.Close)
            {
                var code = (int?)socket.CloseStatus ?? 1005;
                if (socket.State == WebSocketState.CloseReceived)
                    await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                throw new WebSocketDisconnect(code);
            }
            buffer.Write(chunk, 0, result.Count);
            if (buffer.Length > MaxMessageSize)
            {
                await CloseAsync(1009, "Message too big.");
                throw new WebSocketDisconnect(1009);
            }
            if (!result.EndOfMessage) continue;
            if (result.MessageType != expected && expected == WebSocketMessageType.Text)
            {
                await CloseAsync(1003, "Expected a text message.");
                throw new WebSocketDisconnect(1003);
            }
            return buffer.ToArray();
        }
    }

    private const int MaxMessageSize = 1024 * 1024;
}

/// <summary>Thrown by receive calls when the client closed the connection; <see cref="Code"/> is its close code.</summary>
public sealed class WebSocketDisconnect(int code) : Exception($"The WebSocket was closed with code {code}.")
{
    /// <summary>The close code (1000 normal, 1001 going away, ...).</summary>
    public int Code { get; } = code;
}
