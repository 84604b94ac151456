using System.Globalization;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;

namespace Bocata;

/// <summary>Sends a file with validators (ETag, Last-Modified), conditional 304 and single byte ranges (206/416).</summary>
internal static class FileSender
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static Task SendAsync(RequestContext context, FileInfo file)
    {
        file.Refresh();
        if (!file.Exists) throw new HttpError(404);
        var feature = context.ResponseFeature;
        var headers = feature.Headers;
        var request = context.Request.Headers;
        var length = file.Length;
        var modified = TruncateToSeconds(file.LastWriteTimeUtc);
        var etag = $"\"{length:x}-{modified.Ticks:x}\"";

        if (headers.ContentType.Count == 0)
            headers.ContentType = ContentTypes.TryGetContentType(file.Name, out var type) ? type : "application/octet-stream";
        headers.ETag = etag;
        headers.LastModified = modified.ToString("R", CultureInfo.InvariantCulture);
        headers.AcceptRanges = "bytes";

        if (context.Response.StatusCode == 200 && IsNotModified(request, etag, modified))
        {
            feature.StatusCode = 304;
            headers.ContentType = default;
            headers.ContentLength = null;
            return Task.CompletedTask;
        }

        long offset = 0, count = length;
        if (context.Response.StatusCode == 200 && request["Range"] is { } range && RangeApplies(request, etag, modified))
        {
            if (!TryParseRange(range, length, out offset, out count))
            {
                feature.StatusCode = 416;
                headers.ContentRange = $"bytes */{length}";
                headers.ContentType = default;
                headers.ContentLength = 0;
                return Task.CompletedTask;
            }
            if (count != length)
            {
                feature.StatusCode = 206;
                headers.ContentRange = $"bytes {offset}-{offset + count - 1}/{length}";
            }
        }

        headers.ContentLength = count;
        if (context.IsHead || count == 0) return Task.CompletedTask;
        return context.BodyFeature.SendFileAsync(file.FullName, offset, count, context.Aborted);
    }

    private static DateTimeOffset TruncateToSeconds(DateTime utc) =>
        new(utc.Year, utc.Month, utc.Day, utc.Hour, utc.Minute, utc.Second, TimeSpan.Zero);

    // RFC 9110 section 13.2.2: If-None-Match takes precedence over If-Modified-Since.
    private static bool IsNotModified(Headers request, string etag, DateTimeOffset modified)
    {
        if (request["If-None-Match"] is { } inm)
        {
            foreach (var part in inm.Split(','))
            {
                var tag = part.Trim();
                if (tag == "*" || tag == etag || tag == "W/" + etag) return true;
            }
            return false;
        }
        return request["If-Modified-Since"] is { } ims
            && DateTimeOffset.TryParse(ims, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since)
            && modified <= since;
    }

    private static bool RangeApplies(Headers request, string etag, DateTimeOffset modified)
    {
        if (request["If-Range"] is not { } ifRange) return true;
        if (ifRange.StartsWith('"')) return ifRange == etag;
        return DateTimeOffset.TryParse(ifRange, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) && modified <= date;
    }

    /// <summary>One range of <c>bytes=a-b</c>, <c>a-</c> or <c>-n</c>. Several ranges are answered with the whole file (allowed by RFC 9110 section 14.2).</summary>
    private static bool TryParseRange(string header, long length, out long offset, out long count)
    {
        offset = 0;
        count = length;
        if (!RangeHeaderValue.TryParse(header, out var parsed) || !string.Equals(parsed.Unit.Value, "bytes", StringComparison.OrdinalIgnoreCase))
            return true;
        if (parsed.Ranges.Count != 1) return true;
        var range = parsed.Ranges.First();
        if (range.From is { } from)
        {
            if (from >= length) return false;
            var to = range.To is { } t && t < length ? t : length - 1;
            if (to < from) return false;
            offset = from;
            count = to - from + 1;
            return true;
        }
        if (range.To is { } suffix)
        {
            if (suffix == 0) return false;
            var n = Math.Min(suffix, length);
            offset = length - n;
            count = n;
            return true;
        }
        return true;
    }
}
