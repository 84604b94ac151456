using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Bocata;

/// <summary>One Server-Sent Event, like Bocadillo's <c>server_event</c>. <see cref="ToString"/> is its exact wire text.</summary>
public sealed class ServerEvent : IEquatable<ServerEvent>
{
    private static ReadOnlySpan<byte> CommentPrefix => ": "u8;
    private static ReadOnlySpan<byte> IdPrefix => "id: "u8;
    private static ReadOnlySpan<byte> EventPrefix => "event: "u8;
    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;
    private static ReadOnlySpan<byte> RetryPrefix => "retry: "u8;

    /// <summary>Creates an event. <paramref name="json"/> is serialized as the data (it wins over <paramref name="data"/>).</summary>
    /// <exception cref="ArgumentException">CR, LF or NUL in <paramref name="name"/> or <paramref name="id"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative <paramref name="retry"/>.</exception>
    public ServerEvent(string? name = null, string? data = null, object? json = null, string? id = null, int? retry = null, string? comment = null)
    {
        RejectLineBreaks(name, nameof(name));
        RejectLineBreaks(id, nameof(id));
        if (retry is < 0)
            throw new ArgumentOutOfRangeException(nameof(retry), retry, "retry is a reconnection delay in milliseconds and cannot be negative.");
        if (json is not null && data is not null)
            throw new ArgumentException("Give either data or json, not both: json is serialized into the event's data.", nameof(json));

        Name = name;
        Data = json is not null ? JsonSerializer.Serialize(json, BocataJson.TypeInfo(BocataJson.Options, json.GetType())) : data;
        Id = id;
        Retry = retry;
        Comment = comment;
    }

    /// <summary>The event type (<c>event:</c> field), or null for the default "message".</summary>
    public string? Name { get; }

    /// <summary>The data; line breaks become separate <c>data:</c> lines.</summary>
    public string? Data { get; }

    /// <summary>The event id (<c>id:</c> field), echoed by clients as <c>Last-Event-ID</c>.</summary>
    public string? Id { get; }

    /// <summary>The reconnection delay in milliseconds (<c>retry:</c> field).</summary>
    public int? Retry { get; }

    /// <summary>A comment, ignored by clients (<c>: text</c> lines).</summary>
    public string? Comment { get; }

    /// <summary>Returns a copy with another id (the hub numbers events this way).</summary>
    public ServerEvent WithId(string id) => new(Name, Data, id, Retry, Comment, validated: true);

    private ServerEvent(string? name, string? data, string? id, int? retry, string? comment, bool validated)
    {
        _ = validated;
        RejectLineBreaks(id, nameof(id));
        Name = name;
        Data = data;
        Id = id;
        Retry = retry;
        Comment = comment;
    }

    /// <summary>Deserializes <see cref="Data"/> as JSON (with the options of <c>res.Json</c>).</summary>
    /// <exception cref="InvalidOperationException">The event has no data, or its data is JSON <c>null</c>.</exception>
    public T Json<T>() =>
        Data is null ? throw new InvalidOperationException("This event has no data to read as JSON.")
        : JsonSerializer.Deserialize(Data, BocataJson.TypeInfo<T>(BocataJson.Options)) ?? throw new InvalidOperationException($"This event's data is JSON null, not a {typeof(T).Name}.");

    /// <summary>Writes the event's wire bytes (UTF-8, <c>\n</c> line ends, blank line last) without building a string.</summary>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        // Most events are small: one span for the whole event means one GetSpan/Advance pair on the response pipe.
        var max = MaxByteCount();
        if (max <= SingleSpanLimit)
        {
            var span = writer.GetSpan(max);
            writer.Advance(Format(span));
            return;
        }
        // Large events are written field by field in bounded chunks rather than into one span the size of the event.
        if (Comment is not null) WriteLines(writer, CommentPrefix, Comment);
        if (Id is not null) WriteField(writer, IdPrefix, Id);
        if (Name is not null) WriteField(writer, EventPrefix, Name);
        if (Data is not null) WriteLines(writer, DataPrefix, Data);
        if (Retry is { } retry)
        {
            Write(writer, RetryPrefix);
            var span = writer.GetSpan(11);
            retry.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
            writer.Advance(written);
            WriteNewLine(writer);
        }
        WriteNewLine(writer);
    }

    private const int SingleSpanLimit = 8 * 1024;

    private int MaxByteCount()
    {
        // Each line costs at most its prefix (7 bytes), a newline, and 3 bytes per UTF-16 char; a break char splits a line.
        long total = 2;
        if (Comment is not null) total += 4L * Comment.Length + 3;
        if (Id is not null) total += 3L * Id.Length + 5;
        if (Name is not null) total += 3L * Name.Length + 8;
        if (Data is not null) total += 9L * Data.Length + 7;
        if (Retry is not null) total += 19;
        return total > int.MaxValue ? int.MaxValue : (int)total;
    }

    private int Format(Span<byte> span)
    {
        var pos = 0;
        if (Comment is not null) pos += FormatLines(span[pos..], CommentPrefix, Comment);
        if (Id is not null) pos += FormatField(span[pos..], IdPrefix, Id);
        if (Name is not null) pos += FormatField(span[pos..], EventPrefix, Name);
        if (Data is not null) pos += FormatLines(span[pos..], DataPrefix, Data);
        if (Retry is { } retry)
        {
            RetryPrefix.CopyTo(span[pos..]);
            pos += RetryPrefix.Length;
            retry.TryFormat(span[pos..], out var written, default, CultureInfo.InvariantCulture);
            pos += written;
            span[pos++] = (byte)'\n';
        }
        // An event with no field at all is "\n\n", as Bocadillo writes it (a blank line clients ignore).
        if (pos == 0) span[pos++] = (byte)'\n';
        span[pos++] = (byte)'\n';
        return pos;
    }

    private static int FormatField(Span<byte> span, ReadOnlySpan<byte> prefix, string value)
    {
        prefix.CopyTo(span);
        var pos = prefix.Length + Encoding.UTF8.GetBytes(value, span[prefix.Length..]);
        span[pos++] = (byte)'\n';
        return pos;
    }

    private static int FormatLines(Span<byte> span, ReadOnlySpan<byte> prefix, string value)
    {
        var rest = value.AsSpan();
        var pos = 0;
        while (true)
        {
            var br = rest.IndexOfAny('\r', '\n');
            prefix.CopyTo(span[pos..]);
            pos += prefix.Length;
            var line = br < 0 ? rest : rest[..br];
            pos += Encoding.UTF8.GetBytes(line, span[pos..]);
            span[pos++] = (byte)'\n';
            if (br < 0) return pos;
            var skip = rest[br] == '\r' && br + 1 < rest.Length && rest[br + 1] == '\n' ? 2 : 1;
            rest = rest[(br + skip)..];
        }
    }

    /// <summary>The exact wire text, e.g. <c>"id: 1\ndata: hello\n\n"</c>.</summary>
    public override string ToString()
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        WriteTo(buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <inheritdoc />
    public bool Equals(ServerEvent? other) =>
        other is not null && Name == other.Name && Data == other.Data && Id == other.Id && Retry == other.Retry && Comment == other.Comment;

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ServerEvent);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, Data, Id, Retry, Comment);

    private static void WriteField(IBufferWriter<byte> writer, ReadOnlySpan<byte> prefix, string value)
    {
        Write(writer, prefix);
        WriteUtf8(writer, value);
        WriteNewLine(writer);
    }

    // WHATWG HTML "event stream interpretation": CRLF, CR and LF all end a line, so each becomes its own field line.
    private static void WriteLines(IBufferWriter<byte> writer, ReadOnlySpan<byte> prefix, string value)
    {
        var rest = value.AsSpan();
        while (true)
        {
            var br = rest.IndexOfAny('\r', '\n');
            Write(writer, prefix);
            if (br < 0)
            {
                WriteUtf8(writer, rest);
                WriteNewLine(writer);
                return;
            }
            WriteUtf8(writer, rest[..br]);
            WriteNewLine(writer);
            var skip = rest[br] == '\r' && br + 1 < rest.Length && rest[br + 1] == '\n' ? 2 : 1;
            rest = rest[(br + skip)..];
        }
    }

    private static void WriteUtf8(IBufferWriter<byte> writer, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty) return;
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max <= 4096)
        {
            var span = writer.GetSpan(max);
            var n = Encoding.UTF8.GetBytes(text, span);
            writer.Advance(n);
        }
        else
        {
            Encoding.UTF8.GetBytes(text, writer);
        }
    }

    private static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        var span = writer.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        writer.Advance(bytes.Length);
    }

    private static void WriteNewLine(IBufferWriter<byte> writer)
    {
        var span = writer.GetSpan(1);
        span[0] = (byte)'\n';
        writer.Advance(1);
    }

    private static void RejectLineBreaks(string? value, string paramName)
    {
        if (value is null) return;
        if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            throw new ArgumentException($"A server event's {paramName} cannot contain CR, LF or NUL: it would end the field and inject another event. Remove the line breaks (put multi-line text in data).", paramName);
    }
}
