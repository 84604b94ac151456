namespace Bocata;

/// <summary>
/// Ends a WebSocket when the credential it was opened with expires (the token's <c>exp</c>, the sign-in cookie's lifetime),
/// with close code 1008 and a reason saying so: the client reconnects with a fresh one. Visited by the app's one heartbeat,
/// never a timer per socket; only a socket opened with an expiring credential has one.
/// </summary>
internal sealed class WebSocketExpiry(WebSocket ws, long deadlineMs) : IHeartbeatClient
{
    public const int Code = 1008;
    public const string Reason = "The credential expired: reconnect with a fresh one.";
    private int _fired;

    public HeartbeatNode? HeartbeatNode { get; set; }

    public void OnHeartbeat(long nowMs)
    {
        if (nowMs < deadlineMs || Interlocked.Exchange(ref _fired, 1) == 1) return;
        // The close is written on the thread pool, never on the heartbeat's thread.
        ThreadPool.UnsafeQueueUserWorkItem(static socket => _ = socket.CloseAndDropAsync(Code, Reason), ws, preferLocal: false);
    }
}
