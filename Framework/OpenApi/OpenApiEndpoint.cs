using System.Security.Cryptography;

namespace Bocata;

/// <summary>Serves an app's OpenAPI document: built on the first request (the route table is fixed once the app serves), then
/// the same bytes with a strong ETag, so a client that has them gets a 304.</summary>
internal sealed class OpenApiEndpoint(App app, string title, string version)
{
    private readonly Lock _lock = new();
    private (byte[] Bytes, string ETag)? _document;

    public void Handle(Request req, Response res)
    {
        var (bytes, etag) = Document();
        res.Headers["ETag"] = etag;
        // Revalidate every time: the document changes with a deploy, and a 304 costs nothing.
        res.Headers["Cache-Control"] = "no-cache";
        if (Matches(req.Headers["If-None-Match"], etag))
        {
            res.StatusCode = 304;
            return;
        }
        res.Content = bytes;
        res.Headers["Content-Type"] = "application/json";
    }

    private (byte[] Bytes, string ETag) Document()
    {
        if (_document is { } built) return built;
        lock (_lock)
        {
            if (_document is { } again) return again;
            var bytes = OpenApiDocument.Build(app, title, version);
            var etag = "\"" + Convert.ToBase64String(SHA256.HashData(bytes), 0, 18).Replace('+', '-').Replace('/', '_') + "\"";
            _document = (bytes, etag);
            return (bytes, etag);
        }
    }

    /// <summary>Whether an If-None-Match header names <paramref name="etag"/> (RFC 9110 §13.1.2: a list, <c>*</c>, weak comparison).</summary>
    private static bool Matches(string? header, string etag)
    {
        if (string.IsNullOrEmpty(header)) return false;
        foreach (var part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "*") return true;
            var tag = part.StartsWith("W/", StringComparison.Ordinal) ? part[2..] : part;
            if (tag == etag) return true;
        }
        return false;
    }
}
