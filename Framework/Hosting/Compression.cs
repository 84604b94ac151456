using System.Buffers;
using System.IO.Compression;
using Microsoft.Net.Http.Headers;

namespace Bocata;

/// <summary>Response compression (brotli preferred, then gzip) for buffered text-like bodies; never event streams.</summary>
internal static class Compression
{
    /// <summary>The server's choice from an Accept-Encoding value (RFC 9110 section 12.5.3): a named coding's weight overrides
    /// <c>*</c>, <c>q=0</c> means never, and ties go to the server's preference (brotli, then gzip).</summary>
    public static string? ChooseEncoding(string? acceptEncoding)
    {
        if (string.IsNullOrEmpty(acceptEncoding) || !StringWithQualityHeaderValue.TryParseList([acceptEncoding], out var values)) return null;
        double? star = null, br = null, gzip = null;
        foreach (var v in values)
        {
            var q = v.Quality ?? 1;
            var name = v.Value.AsSpan();
            if (name.SequenceEqual("*")) star ??= q;
            else if (name.Equals("br", StringComparison.OrdinalIgnoreCase)) br ??= q;
            else if (name.Equals("gzip", StringComparison.OrdinalIgnoreCase) || name.Equals("x-gzip", StringComparison.OrdinalIgnoreCase)) gzip ??= q;
        }
        var brQuality = br ?? star ?? 0;
        var gzipQuality = gzip ?? star ?? 0;
        if (brQuality <= 0 && gzipQuality <= 0) return null;
        return brQuality >= gzipQuality ? "br" : "gzip";
    }

    /// <summary>Text-like media types, and a body that declares none (Bocadillo compresses those too); never event streams.</summary>
    public static bool IsCompressible(string? contentType)
    {
        if (contentType is null) return true;
        var mediaType = contentType.Split(';', 2)[0].Trim();
        if (mediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase)) return false;
        return mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase) || mediaType.EndsWith("+xml", StringComparison.OrdinalIgnoreCase)
            || mediaType is "application/json" or "application/javascript" or "application/xml" or "image/svg+xml";
    }

    /// <summary>The encoder, set by <see cref="Settings.Gzip"/>'s setter: only an app that turns compression on references it.</summary>
    private static Compressor? s_compress;

    private delegate byte[] Compressor(ReadOnlySpan<byte> body, string encoding);

    public static void Install() => s_compress ??= CompressCore;

    public static byte[] Compress(ReadOnlySpan<byte> body, string encoding) =>
        (s_compress ?? throw new InvalidOperationException("Compression is off: turn it on with app.Configure(s => s.Gzip = true)."))(body, encoding);

    private static byte[] CompressCore(ReadOnlySpan<byte> body, string encoding)
    {
        var output = new MemoryStream(body.Length / 2 + 64);
        using (Stream compressor = encoding == "br"
            ? new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true)
            : new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(body);
        }
        return output.ToArray();
    }
}
