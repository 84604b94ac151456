using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// Signed session cookies: base64url(JSON {values, issued-at}) "." base64url(HMAC-SHA256). The HMAC key is derived from the
/// secret with a purpose label (never the secret itself); a cookie whose signature does not verify, or older than
/// <c>SessionMaxAge</c> by its signed issue time, is an empty session. Previous secrets verify but never sign (rotation).
/// </summary>
internal static class SessionCookie
{
    public const string Name = "session";

    /// <summary>The name over https. RFC 6265bis section 4.1.3.2: a browser keeps a <c>__Host-</c> cookie only when it is Secure,
    /// for Path=/ and without Domain, set over https by this very host: no subdomain and no http:// page can set one beside
    /// the app's own (cookie tossing), so over https only this name is read.</summary>
    public const string SecureName = "__Host-session";

    private static readonly byte[] Purpose = "Bocata session cookie v2"u8.ToArray();
    // A clock a little ahead on another instance must not void fresh cookies.
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);

    public static Handler Wrap(Handler next, SessionKeys keys, TimeSpan maxAge, TimeProvider clock, ILogger log) => async (req, res) =>
    {
        var now = clock.GetUtcNow();
        var secure = req.Scheme == Uri.UriSchemeHttps;
        var name = secure ? SecureName : Name;
        string? cookie = null;
        // Two cookies of one name: the browser sends every cookie whose domain and path match, so one may be tossed by a
        // subdomain or set for a longer path. Which is the app's own cannot be told: neither is believed.
        if (req.CookieCount(name) is > 1 and var count)
            log.LogWarning("A request from {Client} carried {Count} session cookies named {Name}: the session is empty for it. Another cookie of that name was set by a subdomain or for a longer path; clearing the site's cookies in the browser removes it.", req.Client.Host, count, name);
        else if (req.Cookies.TryGetValue(name, out var value))
            cookie = value;
        req.Session = new Session(Read(cookie, keys, maxAge, now));
        await next(req, res);
        if (req.Session is { Modified: true } session)
        {
            // A browser refuses a __Host- cookie, its deletion too, unless it is Secure with Path=/ and no Domain (Set's defaults).
            if (session.Count == 0) res.Cookies.Set(name, "", maxAge: TimeSpan.Zero, expires: DateTimeOffset.UnixEpoch, secure: secure);
            else res.Cookies.Set(name, Write(session.Snapshot, keys.Current, now), maxAge: maxAge, secure: secure, httpOnly: true, sameSite: "Lax");
        }
    };

    /// <summary>The signing key for a secret: HKDF-SHA256 with Bocata's purpose label.</summary>
    public static byte[] DeriveKey(string secret) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, info: Purpose);

    public static Dictionary<string, string> Read(string? cookie, SessionKeys keys, TimeSpan maxAge, DateTimeOffset now)
    {
        var empty = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(cookie)) return empty;
        var dot = cookie.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0) return empty;
        try
        {
            var payload = Encoding.ASCII.GetBytes(cookie[..dot]);
            var signature = WebEncoders.Base64UrlDecode(cookie[(dot + 1)..]);
            if (!keys.Verifies(payload, signature)) return empty;
            var data = JsonSerializer.Deserialize(WebEncoders.Base64UrlDecode(cookie[..dot]), BocataJsonContext.Default.Payload);
            if (data?.V is null || data.Iat is not { } issued) return empty;
            var age = now - DateTimeOffset.FromUnixTimeSeconds(issued);
            if (age > maxAge || age < -Skew) return empty;
            return new Dictionary<string, string>(data.V, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException)
        {
            return empty;
        }
    }

    public static string Write(Dictionary<string, string> values, byte[] key, DateTimeOffset issuedAt)
    {
        var payload = WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(new Payload(values, issuedAt.ToUnixTimeSeconds()), BocataJsonContext.Default.Payload));
        var signature = WebEncoders.Base64UrlEncode(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(payload)));
        return payload + "." + signature;
    }

    /// <summary>The cookie's JSON: member names as they were before Bocata had a JSON context (cookies issued then still read).</summary>
    internal sealed record Payload(
        [property: System.Text.Json.Serialization.JsonPropertyName("V")] Dictionary<string, string>? V,
        [property: System.Text.Json.Serialization.JsonPropertyName("Iat")] long? Iat);
}

/// <summary>The key that signs session cookies, and the keys of previous secrets that still verify them.</summary>
internal sealed class SessionKeys(byte[] current, IReadOnlyList<byte[]> previous)
{
    public byte[] Current { get; } = current;

    public bool Verifies(byte[] payload, byte[] signature)
    {
        if (CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(Current, payload), signature)) return true;
        foreach (var key in previous)
            if (CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(key, payload), signature)) return true;
        return false;
    }
}
