using System.Security.Cryptography;

namespace Bocata;

/// <summary>One file of the <c>/docs</c> page (its HTML, script or style): bytes fixed when the page is mapped, a content-hash
/// ETag, and the cache policy its URL allows.</summary>
internal sealed class DocsAsset
{
    private const string ResourcePrefix = "Bocata.OpenApi.Assets.";

    private readonly byte[] _bytes;
    private readonly string _contentType;
    private readonly string _cacheControl;

    internal DocsAsset(byte[] bytes, string contentType, bool immutable)
    {
        _bytes = bytes;
        _contentType = contentType;
        Hash = Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 8));
        ETag = $"\"{Hash}\"";
        // A hashed asset URL names one content forever, so it is cached for a year; the page keeps its URL across releases and
        // is revalidated on every load (a 304 costs one round trip), so a new release's asset URLs are picked up at once.
        _cacheControl = immutable ? "public, max-age=31536000, immutable" : "no-cache";
    }

    /// <summary>The first 64 bits of the content's SHA-256, in hex: part of a hashed asset's URL, and its ETag.</summary>
    internal string Hash { get; }

    /// <summary>The strong validator sent as <c>ETag</c> and compared with <c>If-None-Match</c>.</summary>
    internal string ETag { get; }

    internal int Length => _bytes.Length;

    /// <summary>The text of an embedded resource of <c>Framework/OpenApi/Assets</c>.</summary>
    internal static string ReadText(string fileName) => System.Text.Encoding.UTF8.GetString(Read(fileName));

    /// <summary>The bytes of an embedded resource of <c>Framework/OpenApi/Assets</c>.</summary>
    internal static byte[] Read(string fileName)
    {
        using var stream = typeof(DocsAsset).Assembly.GetManifestResourceStream(ResourcePrefix + fileName)
            ?? throw new InvalidOperationException($"The Bocata assembly lacks the embedded resource {ResourcePrefix}{fileName}: build Bocata from its project, which embeds Framework/OpenApi/Assets.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Answers with the asset, or 304 when the client's <c>If-None-Match</c> names it. The body goes out as bytes with
    /// its Content-Type, so the app's compression (<c>s.Gzip</c>) applies to it as to any text response.</summary>
    internal void Send(Request req, Response res)
    {
        var headers = res.Headers;
        headers["Cache-Control"] = _cacheControl;
        headers["ETag"] = ETag;
        headers["X-Content-Type-Options"] = "nosniff";
        if (Matches(req.Headers["If-None-Match"]))
        {
            res.StatusCode = 304;
            return;
        }
        headers["Content-Type"] = _contentType;
        res.Content = _bytes;
    }

    // RFC 9110 section 13.1.2: If-None-Match uses the weak comparison, and "*" matches any current representation.
    private bool Matches(string? ifNoneMatch)
    {
        if (ifNoneMatch is null) return false;
        foreach (var part in ifNoneMatch.Split(','))
        {
            var tag = part.AsSpan().Trim();
            if (tag.StartsWith("W/", StringComparison.Ordinal)) tag = tag[2..];
            if (tag.SequenceEqual("*") || tag.SequenceEqual(ETag)) return true;
        }
        return false;
    }
}
