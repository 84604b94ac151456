using Microsoft.AspNetCore.Http;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Bocata;

/// <summary>The one place that writes a <see cref="Response"/> to Kestrel: status, headers, Content-Length and the HEAD/204/304 rules.</summary>
internal static class ResponseWriter
{
    [ThreadStatic] private static Utf8JsonWriter? t_jsonWriter;

    public static Task WriteAsync(RequestContext context)
    {
        var res = context.Response;
        var feature = context.ResponseFeature;
        if (feature.HasStarted) return Task.CompletedTask;
        feature.StatusCode = res.StatusCode;
        var status = res.StatusCode;
        // RFC 9110 sections 6.4.1 and 15.3.5/15.4.5: 1xx, 204 and 304 never have content.
        var bodyless = status < 200 || status == 204 || status == 304;
        if (bodyless)
        {
            feature.Headers.ContentLength = null;
            return Task.CompletedTask;
        }

        // "Chunked" means no Content-Length, even for an empty body (Bocadillo sends Transfer-Encoding: chunked then too).
        if (res.Chunked && res.Kind is (BodyKind.None or BodyKind.Text or BodyKind.Json or BodyKind.Bytes) && !context.IsHead)
            return WriteChunkedAsync(context);

        switch (res.Kind)
        {
            case BodyKind.None:
                return Task.CompletedTask;
            case BodyKind.Text:
                WriteText(context, (string)res.Body!, res.DefaultMediaType!);
                return Task.CompletedTask;
            case BodyKind.Json:
                WriteJson(context, res.Body!);
                return Task.CompletedTask;
            case BodyKind.Bytes:
                WriteBytes(context, (byte[])res.Body!, res.DefaultMediaType);
                return Task.CompletedTask;
            case BodyKind.File:
                return FileSender.SendAsync(context, (FileInfo)res.Body!);
            case BodyKind.Stream:
                return StreamSender.SendAsync(context, res.Body!);
            case BodyKind.EventStream:
                return EventStreamSender.SendAsync(context, (IAsyncEnumerable<ServerEvent>)res.Body!, res.Ping);
            default:
                throw new InvalidOperationException($"Unknown body kind {res.Kind}.");
        }
    }

    private static async Task WriteChunkedAsync(RequestContext context)
    {
        var res = context.Response;
        var headers = context.ResponseFeature.Headers;
        if (headers.ContentType.Count == 0 && res.DefaultMediaType is not null) headers.ContentType = res.DefaultMediaType;
        headers.ContentLength = null;
        // Kestrel sets Content-Length itself for a body completed before the first flush: start the response to get chunking.
        await context.BodyFeature.StartAsync(context.Aborted);
        switch (res.Kind)
        {
            case BodyKind.Text:
                WriteText(context, (string)res.Body!, res.DefaultMediaType!);
                break;
            case BodyKind.Json:
                WriteJson(context, res.Body!);
                break;
            case BodyKind.Bytes:
                WriteBytes(context, (byte[])res.Body!, res.DefaultMediaType);
                break;
        }
    }

    private static void SetContentType(RequestContext context, string? mediaType)
    {
        var headers = context.ResponseFeature.Headers;
        if (mediaType is not null && headers.ContentType.Count == 0) headers.ContentType = mediaType;
    }

    private static void WriteText(RequestContext context, string text, string mediaType)
    {
        if (context.Server.Settings.Gzip && text.Length >= context.Server.Settings.GzipMinSize / 3 && !context.Response.Chunked)
        {
            WriteBytes(context, Encoding.UTF8.GetBytes(text), mediaType);
            return;
        }
        SetContentType(context, mediaType);
        var writer = context.BodyFeature.Writer;
        if (context.Response.Chunked)
        {
            Encoding.UTF8.GetBytes(text, writer);
            return;
        }
        var length = Encoding.UTF8.GetByteCount(text);
        // Content-Length first: Kestrel commits the headers as soon as body memory is requested.
        context.ResponseFeature.Headers.ContentLength = length;
        if (context.IsHead || length == 0) return;
        if (length <= 16 * 1024)
        {
            var n = Encoding.UTF8.GetBytes(text, writer.GetSpan(length));
            writer.Advance(n);
            return;
        }
        Encoding.UTF8.GetBytes(text, writer);
    }

    private static void WriteJson(RequestContext context, object value)
    {
        var buffer = context.Buffer;
        buffer.ResetWrittenCount();
        var json = t_jsonWriter ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true, Encoder = BocataJson.Options.Encoder });
        json.Reset(buffer);
        JsonSerializer.Serialize(json, value, TypeInfo(value.GetType()));
        json.Flush();
        json.Reset(Stream.Null);
        WriteBytes(context, buffer.WrittenSpan, MediaTypes.Json);
        context.ReleaseLargeBuffer();
    }

    private static byte[]? TryCompress(RequestContext context, ReadOnlySpan<byte> bytes)
    {
        var headers = context.ResponseFeature.Headers;
        if (bytes.Length < context.Server.Settings.GzipMinSize || headers.ContentEncoding.Count > 0 || !Compression.IsCompressible(headers.ContentType)) return null;
        // Caches must keep compressed and plain variants apart whether or not this client gets compression.
        headers.Append("Vary", "Accept-Encoding");
        var encoding = Compression.ChooseEncoding(context.Request.Headers["Accept-Encoding"]);
        if (encoding is null) return null;
        headers.ContentEncoding = encoding;
        return Compression.Compress(bytes, encoding);
    }

    private static JsonTypeInfo TypeInfo(Type type)
    {
        // Most apps answer with a handful of types: a last-used cache per thread skips the options' type lookup.
        var cached = t_lastTypeInfo;
        if (cached is not null && cached.Type == type) return cached;
        return t_lastTypeInfo = BocataJson.Options.GetTypeInfo(type);
    }

    [ThreadStatic] private static JsonTypeInfo? t_lastTypeInfo;

    private static void WriteBytes(RequestContext context, ReadOnlySpan<byte> bytes, string? mediaType)
    {
        SetContentType(context, mediaType);
        if (context.Server.Settings.Gzip && TryCompress(context, bytes) is { } compressed) bytes = compressed;
        if (!context.Response.Chunked) context.ResponseFeature.Headers.ContentLength = bytes.Length;
        if (context.IsHead || bytes.IsEmpty) return;
        context.BodyFeature.Writer.WriteAll(bytes);
    }
}
