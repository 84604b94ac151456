using System.Text;

namespace Bocata;

internal static class UrlEncoding
{
    // Starlette's RedirectResponse: quote(url, safe=":/%#?=@[]!$&'()*+,;") — letters, digits and "_.-~" are always safe.
    private static readonly System.Buffers.SearchValues<char> Safe =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~:/%#?=@[]!$&'()*+,;");

    /// <summary>A redirect target made safe for the Location header: every other character (non-ASCII, space, CR, LF, quotes)
    /// is percent-encoded as UTF-8; existing escapes are kept.</summary>
    public static string Location(string url)
    {
        if (!url.AsSpan().ContainsAnyExcept(Safe)) return url;
        var builder = new StringBuilder(url.Length + 16);
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < url.Length; i++)
        {
            var c = url[i];
            if (Safe.Contains(c))
            {
                builder.Append(c);
                continue;
            }
            var length = char.IsHighSurrogate(c) && i + 1 < url.Length && char.IsLowSurrogate(url[i + 1])
                ? Encoding.UTF8.GetBytes(url.AsSpan(i++, 2), bytes)
                : Encoding.UTF8.GetBytes(url.AsSpan(i, 1), bytes);
            foreach (var b in bytes[..length]) builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }
}
