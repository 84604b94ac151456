namespace Bocata;

/// <summary>A WebSocket message that <c>ws.ReceiveJsonAsync&lt;T&gt;()</c> could not accept: malformed JSON, the wrong shape, or
/// failed validation. <see cref="HttpError.Detail"/> says why in the words <c>req.JsonAsync&lt;T&gt;()</c>'s 400 uses (a message,
/// or each member's). The connection stays open: catch it to answer the client; uncaught, the connection closes with 1003
/// and the reason.</summary>
public sealed class WebSocketJsonException(object? detail) : HttpError(400, detail);
