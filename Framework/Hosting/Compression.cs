using System.Buffers;
using System.IO.Compression;
using Microsoft.Net.Http.Headers;

namespace Bocata;

/// <summary>Response compression (brotli preferred, then gzip) for buffered text-like bodies; never event streams.</summary>
internal static class Compression
{
    public static string? ChooseEncoding(string? acceptEncoding)
    {
        if (acceptEncoding is null || !StringWithQualityHeaderValue.TryParseList([acceptEncoding], out var values)) return null;
        double Quality(string name)
        {
            foreach (var v in values)
                if (v.Value.Equals(name, StringComparison.OrdinalIgnoreCase) || v.Value == "*") return v.Quality ?? 1;
            return 0;
        }
        var br = Quality("br");
        var gzip = Quality("gzip");
        if (br <= 0 && gzip <= 0) return null;
        return br >= gzip ? "br" : "gzip";
    }

    public static bool IsCompressible(string? contentType)
    {
        if (contentType is null) return false;
        var mediaType = contentType.Split(';', 2)[0].Trim();
        if (mediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase)) return false;
        return mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase) || mediaType.EndsWith("+xml", StringComparison.OrdinalIgnoreCase)
            || mediaType is "application/json" or "application/javascript" or "application/xml" or "image/svg+xml";
    }

    public static byte[] Compress(ReadOnlySpan<byte> body, string encoding)
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
