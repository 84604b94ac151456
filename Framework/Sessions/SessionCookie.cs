using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace Bocata;

/// <summary>
/// Signed session cookies: base64url(JSON {values, issued-at}) "." base64url(HMAC-SHA256). The HMAC key is derived from the
/// secret with a purpose label (never the secret itself); a cookie whose signature does not verify, or older than
/// <c>SessionMaxAge</c> by its signed issue time, is an empty session. Previous secrets verify but never sign (rotation).
/// </summary>
internal static class SessionCookie
{
    public const string Name = "session";
    private static readonly byte[] Purpose = "Bocata session cookie v2"u8.ToArray();
    // A clock a little ahead on another instance must not void fresh cookies.
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);

    public static Handler Wrap(Handler next, SessionKeys keys, TimeSpan maxAge, TimeProvider? clock = null) => async (req, res) =>
    {
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        req.Session = new Session(Read(req.Cookies.TryGetValue(Name, out var cookie) ? cookie : null, keys, maxAge, now));
        await next(req, res);
        if (req.Session is { Modified: true } session)
        {
            if (session.Count == 0) res.Cookies.Delete(Name);
            else res.Cookies.Set(Name, Write(session.Snapshot, keys.Current, now), maxAge: maxAge, secure: req.Url.Scheme == Uri.UriSchemeHttps, httpOnly: true, sameSite: "Lax");
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
