using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Bocata;

/// <summary>A WebSocket connection handed to a <c>app.WebSocketRoute</c> handler: accept, receive, send, close; <c>await foreach</c> reads messages.</summary>
#pragma warning disable CA1001 // See _sending.
public sealed class WebSocket : IAsyncEnumerable<object>
#pragma warning restore CA1001
{
    private readonly Request _request;
    private readonly Func<Task<System.Net.WebSockets.WebSocket>> _accept;
    private System.Net.WebSockets.WebSocket? _socket;
    private bool _rejected;
    private int _closedByServer;
    // One send at a time: the handler and a WebSocketGroup may both send to this socket. (A SemaphoreSlim whose wait handle is
    // never used holds nothing to dispose.)
#pragma warning disable CA2213
    private readonly SemaphoreSlim _sending = new(1, 1);
#pragma warning restore CA2213

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

    /// <summary>The signed-in user of the handshake (a bearer token, <c>?access_token=</c> or the sign-in cookie), as <c>req.User</c>;
    /// anonymous, never null, without a credential.</summary>
    public System.Security.Claims.ClaimsPrincipal User => _request.User;

    /// <summary>The route's parameters.</summary>
    public IReadOnlyDictionary<string, string> PathParams => _request.PathParams;

    /// <summary>The handshake request's cookies.</summary>
    public IReadOnlyDictionary<string, string> Cookies => _request.Cookies;

    /// <summary>The client's session, read from the handshake's cookie (when sessions are on). Changes made after the handshake
    /// cannot reach the browser (there is no HTTP response left to carry the cookie): set session values in HTTP handlers.</summary>
    public Session Session => _request.Session;

    /// <summary>The remote address and port.</summary>
    public ClientAddress Client => _request.Client;

    internal TimeSpan WriteTimeout => _request.Context.Server.Settings.StreamWriteTimeout;

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
        _request.Context.Server.WebSocketOpened();
    }

    /// <summary>The close code the server sent on its own (a timeout, a too-big message, shutdown), or 0.</summary>
    internal int ClosedByServer => Volatile.Read(ref _closedByServer);

    /// <summary>Closes from the server's side with <paramref name="code"/> and drops the connection if the peer does not answer
    /// within a second: for shutdown (1001), a message too big (1009) or too slow (1008). Safe while a receive is pending.</summary>
    internal async Task CloseAndDropAsync(int code, string reason)
    {
        if (_socket is not { } socket || Interlocked.CompareExchange(ref _closedByServer, code, 0) != 0) return;
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(1));
        }
        catch (Exception e) when (e is WebSocketException or TimeoutException or ObjectDisposedException or OperationCanceledException or IOException)
        {
        }
        _ = DropLaterAsync(socket);

        static async Task DropLaterAsync(System.Net.WebSockets.WebSocket socket)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            if (socket.State != WebSocketState.Closed) socket.Abort();
        }
    }

    /// <summary>Refuses the handshake with 403 Forbidden.</summary>
    public Task RejectAsync()
    {
        if (_socket is not null) throw new InvalidOperationException("This WebSocket is already accepted: close it with CloseAsync(code) instead.");
        _rejected = true;
        return Task.CompletedTask;
    }

    /// <summary>Refuses the handshake with 403 Forbidden and says why in the response's detail (as an <c>HttpError</c> would),
    /// so the client can tell a refusal from a network failure.</summary>
    public Task RejectAsync(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        RejectionReason = reason;
        return RejectAsync();
    }

    /// <summary>Why the handshake was refused, when the handler said.</summary>
    internal string? RejectionReason { get; private set; }

    /// <summary>Closes the connection with <paramref name="code"/> (1000 = normal).</summary>
    public async Task CloseAsync(int code = 1000, string? reason = null)
    {
        var socket = Socket;
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived)) return;
        try
        {
            await socket.CloseAsync((WebSocketCloseStatus)code, reason, ClientGone);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer left without answering the close: nothing more to tell it.
        }
    }

    /// <summary>After the server sent its close frame (and nobody reads any more), waits up to a second for the client's, so the
    /// connection ends with a complete close handshake rather than a reset.</summary>
    internal async Task FinishCloseAsync()
    {
        if (_socket is not { State: WebSocketState.CloseSent } socket) return;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            while (socket.State == WebSocketState.CloseSent) await socket.ReceiveAsync(buffer.AsMemory(), wait.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Only the client leaving cancels a receive or send: cancelling one aborts the socket, and a stopping server closes
    /// its WebSockets with 1001 instead (<see cref="CloseAndDropAsync"/>).</summary>
    private CancellationToken ClientGone => _request.Context.ClientAborted;

    /// <summary>Receives one text message; throws <see cref="WebSocketDisconnect"/> when the client closes.</summary>
    public async Task<string> ReceiveTextAsync() => Encoding.UTF8.GetString(await ReceiveAsync(WebSocketMessageType.Text));

    /// <summary>Receives one binary message; throws <see cref="WebSocketDisconnect"/> when the client closes.</summary>
    public Task<byte[]> ReceiveBytesAsync() => ReceiveAsync(WebSocketMessageType.Binary);

    /// <summary>Receives one text message parsed as JSON and validated as <c>req.JsonAsync&lt;T&gt;()</c> validates a body. A message
    /// that is malformed, of the wrong shape or invalid throws <see cref="WebSocketJsonException"/> with the same detail, and
    /// the connection stays open; left uncaught, it closes the connection with 1003 and the reason.</summary>
    public async Task<T> ReceiveJsonAsync<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(JsonValidation.Members)] T>()
    {
        var bytes = await ReceiveAsync(WebSocketMessageType.Text);
        try
        {
            return JsonValidation.Read<T>(bytes, _request.Context.Server.Settings.Json, "message");
        }
        catch (HttpError e) when (e is not WebSocketJsonException)
        {
            throw new WebSocketJsonException(e.Detail);
        }
    }

    /// <summary>Sends a text message.</summary>
    public Task SendTextAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    /// <summary>Sends a binary message.</summary>
    public Task SendBytesAsync(byte[] bytes) => SendAsync(bytes, WebSocketMessageType.Binary);

    /// <summary>Sends a value as a JSON text message.</summary>
    public Task SendJsonAsync(object? value) =>
        SendAsync(JsonSerializer.SerializeToUtf8Bytes(value, BocataJson.TypeInfo(_request.Context.Server.Settings.Json, value?.GetType() ?? typeof(object))), WebSocketMessageType.Text);

    /// <summary>Receives the next message of either kind as an event (Bocadillo's <c>receive_event</c>): <c>websocket.receive</c>
    /// with its text or bytes, or — instead of throwing — <c>websocket.disconnect</c> with the client's close code.</summary>
    public async Task<WebSocketEvent> ReceiveEventAsync()
    {
        try
        {
            var bytes = await ReceiveAsync(null);
            return _lastType == WebSocketMessageType.Text
                ? new WebSocketEvent(WebSocketEvent.Receive, Text: Encoding.UTF8.GetString(bytes))
                : new WebSocketEvent(WebSocketEvent.Receive, Bytes: bytes);
        }
        catch (WebSocketDisconnect e)
        {
            return new WebSocketEvent(WebSocketEvent.Disconnect, Code: e.Code);
        }
    }

    /// <summary>Sends an event (Bocadillo's <c>send_event</c>): <c>websocket.send</c> with text or bytes, or <c>websocket.close</c>
    /// with a code.</summary>
    public Task SendEventAsync(WebSocketEvent message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message switch
        {
            { Type: WebSocketEvent.Send, Text: { } text } => SendTextAsync(text),
            { Type: WebSocketEvent.Send, Bytes: { } bytes } => SendBytesAsync(bytes),
            { Type: WebSocketEvent.Close } => CloseAsync(message.Code ?? 1000),
            _ => throw new ArgumentException($"Cannot send a '{message.Type}' event: send \"{WebSocketEvent.Send}\" with Text or Bytes, or \"{WebSocketEvent.Close}\" with a Code.", nameof(message)),
        };
    }

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
                    "event" => await ReceiveEventAsync(),
                    _ => await ReceiveTextAsync(),
                };
            }
            catch (WebSocketDisconnect)
            {
                yield break;
            }
            yield return message;
            if (message is WebSocketEvent { Type: WebSocketEvent.Disconnect }) yield break;
        }
    }

    internal System.Net.WebSockets.WebSocket? RawSocket => _socket;

    private System.Net.WebSockets.WebSocket Socket =>
        _socket ?? throw new InvalidOperationException("Accept the WebSocket first: await ws.AcceptAsync().");

    private Task SendAsync(byte[] payload, WebSocketMessageType type) => SendAsync(payload, type, ClientGone);

    internal async Task SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type, CancellationToken cancellationToken)
    {
        var socket = Socket;
        await _sending.WaitAsync(cancellationToken);
        try
        {
            await socket.SendAsync(payload, type, endOfMessage: true, cancellationToken);
        }
        catch (Exception e) when (IsConnectionLost(e))
        {
            throw Lost();
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>A send or receive that failed because the connection is gone (or the server closed it itself).</summary>
    private bool IsConnectionLost(Exception e) =>
        e is WebSocketException or OperationCanceledException or IOException || (e is InvalidOperationException && ClosedByServer != 0);

    /// <summary>What a lost connection tells the handler: the server's own close code, or 1006 (closed abnormally).</summary>
    private WebSocketDisconnect Lost() => new(ClosedByServer != 0 ? ClosedByServer : 1006);

    private WebSocketMessageType _lastType;

    private async Task<byte[]> ReceiveAsync(WebSocketMessageType? expected)
    {
        var socket = Socket;
        var settings = _request.Context.Server.Settings;
        var max = settings.WebSocketMaxMessageSize;
        // One pooled buffer per message, grown as fragments arrive and returned at once: an idle socket holds none.
        var buffer = RentMessageBuffer(4096);
        var length = 0;
        CancellationTokenSource? slow = null;
        CancellationTokenRegistration slowClose = default;
        try
        {
            while (true)
            {
                if (buffer.Length - length < 1024)
                {
                    var bigger = RentMessageBuffer((int)Math.Min((long)max + 1024, Math.Max(buffer.Length * 2L, length + 4096L)));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ReturnMessageBuffer(buffer);
                    buffer = bigger;
                }
                ValueWebSocketReceiveResult result;
                try
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), ClientGone);
                }
                catch (Exception e) when (IsConnectionLost(e))
                {
                    throw Lost();
                }
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    var code = ClosedByServer != 0 ? ClosedByServer : (int?)socket.CloseStatus ?? 1005;
                    if (socket.State == WebSocketState.CloseReceived)
                        await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    throw new WebSocketDisconnect(code);
                }
                length += result.Count;
                if (length > max)
                {
                    await CloseAndDropAsync(1009, "Message too big.");
                    throw new WebSocketDisconnect(1009);
                }
                if (!result.EndOfMessage)
                {
                    // A message started: it must finish within the timeout, or the client is closed with 1008 (policy violation).
                    if (slow is null)
                    {
                        slow = new CancellationTokenSource(settings.WebSocketMessageTimeout);
                        slowClose = slow.Token.Register(static state => _ = ((WebSocket)state!).CloseAndDropAsync(1008, "Message took too long."), this);
                    }
                    continue;
                }
                _lastType = result.MessageType;
                if (result.MessageType != expected && expected == WebSocketMessageType.Text)
                {
                    await CloseAsync(1003, "Expected a text message.");
                    throw new WebSocketDisconnect(1003);
                }
                return buffer.AsSpan(0, length).ToArray();
            }
        }
        finally
        {
            await slowClose.DisposeAsync();
            slow?.Dispose();
            ReturnMessageBuffer(buffer);
        }
    }

    // Small buffers come from the shared pool; large ones are plain arrays the GC takes back once the message is done, so
    // that a burst of big messages does not leave the pool holding hundreds of megabytes.
    private const int PooledUpTo = 64 * 1024;

    private static byte[] RentMessageBuffer(int size) =>
        size <= PooledUpTo ? System.Buffers.ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    private static void ReturnMessageBuffer(byte[] buffer)
    {
        if (buffer.Length <= PooledUpTo) System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }
}

/// <summary>A raw WebSocket event, as Bocadillo's <c>receive_event</c>/<c>send_event</c> (ASGI's) carry them.</summary>
/// <param name="Type"><see cref="Receive"/>, <see cref="Disconnect"/>, <see cref="Send"/> or <see cref="Close"/>.</param>
/// <param name="Text">A text message's content.</param>
/// <param name="Bytes">A binary message's content.</param>
/// <param name="Code">The close code of a disconnect or close.</param>
public sealed record WebSocketEvent(string Type, string? Text = null, byte[]? Bytes = null, int? Code = null)
{
    /// <summary>A message from the client.</summary>
    public const string Receive = "websocket.receive";

    /// <summary>The client closed the connection.</summary>
    public const string Disconnect = "websocket.disconnect";

    /// <summary>A message to the client.</summary>
    public const string Send = "websocket.send";

    /// <summary>Closing the connection.</summary>
    public const string Close = "websocket.close";
}

/// <summary>Thrown by receive calls when the client closed the connection; <see cref="Code"/> is its close code.</summary>
public sealed class WebSocketDisconnect(int code) : Exception($"The WebSocket was closed with code {code}.")
{
    /// <summary>The close code (1000 normal, 1001 going away, ...).</summary>
    public int Code { get; } = code;
}
