using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// <see cref="Settings.MaxConcurrentConnections"/> as a connection middleware: a connection holds its slot from accept to close,
/// through an upgrade to WebSocket too (Kestrel's own limit releases the slot on upgrade and counts upgraded connections apart).
/// A connection past the limit is closed at once, as Kestrel's limit does.
/// </summary>
internal sealed class ConnectionLimit(long max, ILogger log)
{
    private long _open;

    public long Open => Interlocked.Read(ref _open);

    public ConnectionDelegate Wrap(ConnectionDelegate next) => async connection =>
    {
        if (Interlocked.Increment(ref _open) > max)
        {
            Interlocked.Decrement(ref _open);
            log.LogDebug("Connection {ConnectionId} refused: {Max} connections are open (MaxConcurrentConnections).", connection.ConnectionId, max);
            return;
        }
        try
        {
            await next(connection);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    };
}
