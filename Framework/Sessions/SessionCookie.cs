using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace Bocata;

/// <summary>Signed session cookies: base64url(JSON) "." base64url(HMAC-SHA256). A cookie whose signature does not verify is ignored.</summary>
internal static class SessionCookie
{
    public const string Name = "session";

    public static Handler Wrap(Handler next, byte[] key, TimeSpan maxAge) => async (req, res) =>
    {
        req.Session = new Session(Read(req.Cookies.TryGetValue(Name, out var cookie) ? cookie : null, key));
        await next(req, res);
        if (req.Session is { Modified: true } session)
        {
            if (session.Count == 0) res.Cookies.Delete(Name);
            else res.Cookies.Set(Name, Write(session.Snapshot, key), maxAge: maxAge, secure: req.Url.Scheme == Uri.UriSchemeHttps, httpOnly: true, sameSite: "Lax");
        }
    };

    public static Dictionary<string, string> Read(string? cookie, byte[] key)
    {
        var empty = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(cookie)) return empty;
        var dot = cookie.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0) return empty;
        try
        {
            var payload = Encoding.ASCII.GetBytes(cookie[..dot]);
            var signature = WebEncoders.Base64UrlDecode(cookie[(dot + 1)..]);
            if (!CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(key, payload), signature)) return empty;
            return JsonSerializer.Deserialize<Dictionary<string, string>>(WebEncoders.Base64UrlDecode(cookie[..dot])) ?? empty;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return empty;
        }
    }

    public static string Write(Dictionary<string, string> values, byte[] key)
    {
        var payload = WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(values));
        var signature = WebEncoders.Base64UrlEncode(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(payload)));
        return payload + "." + signature;
    }
}
