using System.Buffers;
using Microsoft.AspNetCore.Http;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Bocata;

/// <summary>The one place that writes a <see cref="Response"/> to Kestrel: status, headers, Content-Length and the HEAD/204/304 rules.</summary>
/// <remarks>A buffered body (text, JSON, bytes or none) is decided in one pass before any header goes out: its bytes, then its
/// encoding (compression), then its framing (Content-Length or chunked), then whether a body is sent at all (HEAD). Files,
/// streams and event streams have their own senders, which are never compressed.</remarks>
internal static class ResponseWriter
{
    [ThreadStatic] private static Utf8JsonWriter? t_jsonWriter;
    [ThreadStatic] private static JsonTypeInfo? t_lastTypeInfo;

    public static Task WriteAsync(RequestContext context)
    {
        var res = context.Response;
        var feature = context.ResponseFeature;
        if (feature.HasStarted) return Task.CompletedTask;
        feature.StatusCode = res.StatusCode;
        var status = res.StatusCode;
        // RFC 9110 sections 6.4.1 and 15.3.5/15.4.5: 1xx, 204 and 304 never have content.
        if (status < 200 || status == 204 || status == 304)
        {
            feature.Headers.ContentLength = null;
            return Task.CompletedTask;
        }
        return res.Kind switch
        {
            BodyKind.None or BodyKind.Text or BodyKind.Json or BodyKind.Bytes => WriteBuffered(context),
            BodyKind.File => FileSender.SendAsync(context, (FileInfo)res.Body!),
            BodyKind.Stream => StreamSender.SendAsync(context, res.Body!),
            BodyKind.EventStream => EventStreamSender.SendAsync(context, (IAsyncEnumerable<ServerEvent>)res.Body!, res.Ping),
            _ => throw new InvalidOperationException($"Unknown body kind {res.Kind}."),
        };
    }

    private static Task WriteBuffered(RequestContext context)
    {
        var res = context.Response;
        var headers = context.ResponseFeature.Headers;
        if (res.DefaultMediaType is not null && headers.ContentType.Count == 0) headers.ContentType = res.DefaultMediaType;

        // 1. The bytes. Text that cannot be compressed is encoded straight into the pipe later; everything else is bytes now.
        var encoding = context.Server.Settings.Gzip ? ChooseEncoding(context, res) : null;
        string? text = null;
        ReadOnlySpan<byte> bytes = default;
        switch (res.Kind)
        {
            case BodyKind.Text when encoding is null:
                text = (string)res.Body!;
                break;
            case BodyKind.Text:
                bytes = Encoding.UTF8.GetBytes((string)res.Body!);
                break;
            case BodyKind.Json:
                bytes = SerializeJson(context.Buffer, res.Body!, context.Server.Settings.Json);
                break;
            case BodyKind.Bytes:
                bytes = (byte[])res.Body!;
                break;
        }

        // 2. The encoding: compressed only when the body turned out big enough (Bocadillo: at least GzipMinSize bytes, even 0).
        if (encoding is not null && bytes.Length >= context.Server.Settings.GzipMinSize)
        {
            headers.ContentEncoding = encoding;
            bytes = Compression.Compress(bytes, encoding);
        }

        // 3. The framing. Chunked means no Content-Length, even for an empty body (Bocadillo sends Transfer-Encoding: chunked too).
        if (res.Chunked)
        {
            headers.ContentLength = null;
            if (context.IsHead) return Done(context);
            // Kestrel sets Content-Length itself for a body completed before the first flush: start the response to get chunking.
            var body = text is null ? bytes.ToArray() : Encoding.UTF8.GetBytes(text);
            context.ReleaseLargeBuffer();
            return WriteChunkedAsync(context, body);
        }
        var length = text is null ? bytes.Length : Encoding.UTF8.GetByteCount(text);
        // Content-Length first: Kestrel commits the headers as soon as body memory is requested.
        headers.ContentLength = length;

        // 4. The body, unless HEAD.
        if (!context.IsHead && length > 0)
        {
            var writer = context.BodyFeature.Writer;
            if (text is null) writer.WriteAll(bytes);
            else if (length <= 16 * 1024) writer.Advance(Encoding.UTF8.GetBytes(text, writer.GetSpan(length)));
            else Encoding.UTF8.GetBytes(text, writer);
        }
        return Done(context);
    }

    private static Task Done(RequestContext context)
    {
        context.ReleaseLargeBuffer();
        return Task.CompletedTask;
    }

    /// <summary>The content coding for this response, or null: decided from the settings, the content type and the client's
    /// Accept-Encoding alone, so that the size check after serialization is the only thing left.</summary>
    private static string? ChooseEncoding(RequestContext context, Response res)
    {
        var headers = context.ResponseFeature.Headers;
        if (headers.ContentEncoding.Count > 0 || !Compression.IsCompressible(headers.ContentType.Count == 0 ? null : headers.ContentType.ToString())) return null;
        // Skip bodies that cannot reach the threshold (text is at most 3 bytes per char) without encoding them.
        var atMost = res.Kind switch
        {
            BodyKind.None => 0,
            BodyKind.Text => ((string)res.Body!).Length * 3L,
            BodyKind.Bytes => ((byte[])res.Body!).Length,
            _ => long.MaxValue,
        };
        if (atMost < context.Server.Settings.GzipMinSize) return null;
        // Caches must keep compressed and plain variants apart whether or not this client gets compression.
        headers.Append("Vary", "Accept-Encoding");
        return Compression.ChooseEncoding(context.Request.Headers["Accept-Encoding"]);
    }

    private static async Task WriteChunkedAsync(RequestContext context, byte[] body)
    {
        await context.BodyFeature.StartAsync(context.Aborted);
        if (body.Length > 0) context.BodyFeature.Writer.WriteAll(body);
    }

    /// <summary>
    /// Serializes <paramref name="value"/> into <paramref name="buffer"/> (emptied first) through this thread's reused
    /// writer: no allocation once the type's metadata is cached.
    /// </summary>
    internal static ReadOnlySpan<byte> SerializeJson(ArrayBufferWriter<byte> buffer, object value, JsonSerializerOptions options)
    {
        buffer.ResetWrittenCount();
        var json = t_jsonWriter;
        if (json is null || t_jsonWriterOptions != options)
        {
            json = t_jsonWriter = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true, Encoder = options.Encoder, Indented = options.WriteIndented });
            t_jsonWriterOptions = options;
        }
        json.Reset(buffer);
        JsonSerializer.Serialize(json, value, TypeInfo(value.GetType(), options));
        json.Flush();
        // Let go of the connection's buffer. Not Reset(Stream.Null): that allocates 32 B on every call.
        json.Reset(NoOutput);
        return buffer.WrittenSpan;
    }

    /// <summary>What the idle writer points at: never written to.</summary>
    private static readonly ArrayBufferWriter<byte> NoOutput = new(1);

    [ThreadStatic] private static JsonSerializerOptions? t_jsonWriterOptions;

    private static JsonTypeInfo TypeInfo(Type type, JsonSerializerOptions options)
    {
        // Most apps answer with a handful of types: a last-used cache per thread skips the options' type lookup.
        var cached = t_lastTypeInfo;
        if (cached is not null && cached.Type == type && cached.Options == options) return cached;
        return t_lastTypeInfo = BocataJson.TypeInfo(options, type);
    }
}
