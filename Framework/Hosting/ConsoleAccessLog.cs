using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Text;

namespace Bocata;

/// <summary>
/// The default console access log, made cheap enough to leave on: each line is formatted straight into UTF-8 and appended
/// to one bounded buffer; a background thread writes the buffer out in batches. Past the bound (a stalled stdout), lines
/// are dropped and counted rather than held.
/// </summary>
internal sealed class ConsoleAccessLog : AccessLog
{
    private const int MaxLine = 1024;
    private const int MaxPending = 1024 * 1024;
    private static ReadOnlySpan<byte> Prefix => " info: Bocata.Access "u8;

    private readonly Stream _output;
    private readonly Lock _gate = new();
    private readonly Thread _writer;
    private readonly AutoResetEvent _wake = new(false);
    private byte[] _pending = new byte[64 * 1024];
    private byte[] _spare = new byte[64 * 1024];
    private int _length;
    private long _dropped;
    private volatile bool _stopped;
    private long _stampSecond = -1;
    private readonly byte[] _stamp = new byte[8];

    public ConsoleAccessLog(Stream output)
    {
        _output = output;
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "Bocata access log" };
        _writer.Start();
    }

    public override void Write(string method, string pathBase, string path, int status, long startTimestamp)
    {
        Span<byte> line = stackalloc byte[MaxLine];
        var n = Format(line, method, pathBase, path, status, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);
        lock (_gate)
        {
            if (_length + n > MaxPending)
            {
                _dropped++;
                return;
            }
            if (_length + n > _pending.Length) Array.Resize(ref _pending, Math.Min(MaxPending, Math.Max(_pending.Length * 2, _length + n)));
            line[..n].CopyTo(_pending.AsSpan(_length));
            _length += n;
        }
    }

    private int Format(Span<byte> line, string method, string pathBase, string path, int status, double elapsedMs)
    {
        Stamp().CopyTo(line);
        var pos = 8;
        Prefix.CopyTo(line[pos..]);
        pos += Prefix.Length;
        var room = line.Length - pos - 40;
        pos += Ascii(line[pos..], method, 16);
        line[pos++] = (byte)' ';
        pos += PathBytes(line.Slice(pos, room - 16), pathBase, path);
        line[pos++] = (byte)' ';
        Utf8Formatter.TryFormat(status, line[pos..], out var w);
        pos += w;
        line[pos++] = (byte)' ';
        Utf8Formatter.TryFormat(elapsedMs, line[pos..], out w, new StandardFormat('F', 1));
        pos += w;
        " ms\n"u8.CopyTo(line[pos..]);
        return pos + 4;
    }

    private ReadOnlySpan<byte> Stamp()
    {
        // "HH:mm:ss" is recomputed once a second, not per request.
        var second = Environment.TickCount64 / 1000;
        if (Volatile.Read(ref _stampSecond) != second)
        {
            lock (_stamp)
            {
                Encoding.ASCII.GetBytes(DateTime.Now.ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), _stamp);
                Volatile.Write(ref _stampSecond, second);
            }
        }
        return _stamp;
    }

    private static int Ascii(Span<byte> into, string text, int max)
    {
        var n = Math.Min(text.Length, max);
        for (var i = 0; i < n; i++) into[i] = text[i] < 0x80 && text[i] >= 0x20 ? (byte)text[i] : (byte)'?';
        return n;
    }

    private static int PathBytes(Span<byte> into, string pathBase, string path)
    {
        var pos = 0;
        foreach (var part in (ReadOnlySpan<string>)[pathBase, path])
        {
            foreach (var c in part)
            {
                if (pos + 6 > into.Length) return pos;
                if (AccessLog.Escaped(c))
                {
                    // Escaped: a decoded %0a, %1b or %c2%9b can never start a new line or a terminal sequence, nor U+202E
                    // make the line read differently than it is.
                    const string hex = "0123456789ABCDEF";
                    into[pos++] = (byte)'\\';
                    if (c <= 0xFF)
                    {
                        into[pos++] = (byte)'x';
                    }
                    else
                    {
                        into[pos++] = (byte)'u';
                        into[pos++] = (byte)hex[c >> 12];
                        into[pos++] = (byte)hex[(c >> 8) & 0xF];
                    }
                    into[pos++] = (byte)hex[(c >> 4) & 0xF];
                    into[pos++] = (byte)hex[c & 0xF];
                }
                else if (c < 0x80) into[pos++] = (byte)c;
                else pos += Encoding.UTF8.GetBytes([c], into[pos..]) is var n && n > 0 ? n : 0;
            }
        }
        return pos;
    }

    private void WriteLoop()
    {
        while (true)
        {
            _wake.WaitOne(100);
            byte[] batch;
            int length;
            long dropped;
            lock (_gate)
            {
                (batch, _pending, _spare) = (_pending, _spare, _pending);
                length = _length;
                _length = 0;
                dropped = _dropped;
                _dropped = 0;
            }
            try
            {
                if (length > 0) _output.Write(batch, 0, length);
                if (dropped > 0) _output.Write(Encoding.UTF8.GetBytes($"{DateTime.Now:HH:mm:ss} warn: Bocata.Access {dropped} access log lines dropped: the output is not keeping up\n"));
                if (length > 0 || dropped > 0) _output.Flush();
            }
            catch (IOException)
            {
                // stdout closed: nothing to write to.
            }
            if (_stopped && length == 0) return;
        }
    }

    public override void Dispose()
    {
        _stopped = true;
        _wake.Set();
        _writer.Join(TimeSpan.FromSeconds(2));
        base.Dispose();
    }
}
