using System.Buffers;
using System.IO.Pipelines;

namespace Bocata;

/// <summary>A stream with the guards a form needs: over the request body, a read that gets nothing for the idle timeout is a
/// 408 (a stall after a burst cannot hide under an average data rate); a body larger than <c>limit</c> is a 413 before more
/// is read.</summary>
internal sealed class GuardedBodyStream : Stream
{
    private readonly Stream? _inner;
    private readonly PipeReader? _reader;
    private readonly TimeSpan? _idleTimeout;
    private readonly long? _limit;
    private readonly string? _tooLarge;
    private long _read;

    /// <summary>The request body, read from Kestrel's pipe with the idle timeout.</summary>
    public GuardedBodyStream(PipeReader reader, TimeSpan? idleTimeout)
    {
        _reader = reader;
        _idleTimeout = idleTimeout;
    }

    /// <summary>A stream of at most <paramref name="limit"/> bytes (413 past it, with <paramref name="tooLarge"/>).</summary>
    public GuardedBodyStream(Stream inner, long limit, string tooLarge)
    {
        _inner = inner;
        _limit = limit;
        _tooLarge = tooLarge;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        if (_reader is not null)
        {
            var result = await ReadAsync(_reader, _idleTimeout, cancellationToken);
            var data = result.Buffer;
            n = (int)Math.Min(data.Length, buffer.Length);
            data.Slice(0, n).CopyTo(buffer.Span);
            _reader.AdvanceTo(data.GetPosition(n));
        }
        else
        {
            n = await _inner!.ReadAsync(buffer, cancellationToken);
        }
        _read += n;
        if (_limit is { } max && _read > max) throw new HttpError(413, _tooLarge!);
        return n;
    }

    /// <summary>Reads the request body's pipe; nothing for <paramref name="idle"/> is a 408. The wait is ended with
    /// <see cref="PipeReader.CancelPendingRead"/> (never a cancelled token), so the pipe stays usable and Kestrel can still
    /// drain or close the connection cleanly.</summary>
    internal static async ValueTask<ReadResult> ReadAsync(PipeReader reader, TimeSpan? idle, CancellationToken cancellationToken)
    {
        if (idle is not { } timeout) return await reader.ReadAsync(cancellationToken);
        while (true)
        {
            using var stall = new CancellationTokenSource(timeout);
            ReadResult result;
            using (stall.Token.UnsafeRegister(static s => ((PipeReader)s!).CancelPendingRead(), reader))
                result = await reader.ReadAsync(cancellationToken);
            if (!result.IsCanceled) return result;
            reader.AdvanceTo(result.Buffer.Start);
            if (stall.IsCancellationRequested) throw Stalled(timeout);
            // A cancel that fired as the previous read completed: read again.
        }
    }

    internal static HttpError Stalled(TimeSpan idle) =>
        new(408, $"The request body stalled: nothing arrived for {idle.TotalSeconds:0.###} s.");

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
