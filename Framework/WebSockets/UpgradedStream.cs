namespace Bocata;

/// <summary>
/// The upgraded connection's stream as the WebSocket sees it. Disposing Kestrel's own upgrade stream does not end a read that
/// is waiting on the connection, so a WebSocket that is aborted (its keep-alive timed out, a peer did not answer our close)
/// would hang until the server stops. Disposing this one while the WebSocket is not cleanly closed aborts the connection
/// (the WebSocket disposes its stream itself once the close handshake completes: then the connection ends normally).
/// </summary>
internal sealed class UpgradedStream(Stream inner, Action abortConnection) : Stream
{
    private int _disposed;

    /// <summary>The WebSocket over this stream, whose state says whether its close handshake completed.</summary>
    public System.Net.WebSockets.WebSocket? Socket { get; set; }

    public override bool CanRead => inner.CanRead;
    public override bool CanWrite => inner.CanWrite;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            if (Socket?.State != System.Net.WebSockets.WebSocketState.Closed) abortConnection();
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
