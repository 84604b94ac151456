using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace Bocata;

/// <summary>
/// The sign-in cookie: the user's claims and the cookie's expiry as JSON, sealed with AES-256-GCM (encrypted and authenticated:
/// the client can neither read nor change it) under a key derived with HKDF-SHA256 from the app's secret and a purpose label
/// of its own (never the session cookie's key). Layout, base64url: version (1 byte), nonce (12), tag (16), ciphertext. Keys of
/// previous secrets open cookies but never seal them (rotation). The expiry inside is enforced here, whatever the browser keeps.
/// </summary>
internal sealed class AuthCookie(byte[] key, IReadOnlyList<byte[]> previousKeys)
{
    public const string Name = "bocata_auth";
    private const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int Header = 1 + NonceSize + TagSize;
    // Browsers keep about 4096 bytes per cookie, name and attributes included.
    private const int MaxCookie = 3800;
    private static readonly byte[] Purpose = "Bocata sign-in cookie v1"u8.ToArray();

    /// <summary>The sealing key for a secret: HKDF-SHA256 with the sign-in cookie's purpose label.</summary>
    public static byte[] DeriveKey(string secret) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, info: Purpose);

    public string Write(ClaimsPrincipal user, DateTimeOffset expires)
    {
        var plain = Serialize(user, expires);
        var sealedBytes = new byte[Header + plain.Length];
        sealedBytes[0] = Version;
        var nonce = sealedBytes.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(key, TagSize))
            aes.Encrypt(nonce, plain, sealedBytes.AsSpan(Header), sealedBytes.AsSpan(1 + NonceSize, TagSize), Purpose);
        var cookie = WebEncoders.Base64UrlEncode(sealedBytes);
        if (cookie.Length > MaxCookie)
            throw new InvalidOperationException($"The signed-in user's claims make a {cookie.Length}-byte cookie, over the ~4 KB a browser keeps: sign in with fewer claims (an id, a name, roles) and look the rest up when needed.");
        return cookie;
    }

    /// <summary>The user sealed in <paramref name="cookie"/> when it opens with a known key and has not expired; null otherwise.</summary>
    public (ClaimsPrincipal User, DateTimeOffset Expires)? Read(string cookie, DateTimeOffset now)
    {
        byte[] sealedBytes;
        try
        {
            sealedBytes = WebEncoders.Base64UrlDecode(cookie);
        }
        catch (FormatException)
        {
            return null;
        }
        if (sealedBytes.Length <= Header || sealedBytes[0] != Version) return null;
        var plain = new byte[sealedBytes.Length - Header];
        if (!Open(key, sealedBytes, plain))
        {
            var opened = false;
            foreach (var previous in previousKeys)
                if (opened = Open(previous, sealedBytes, plain)) break;
            if (!opened) return null;
        }
        try
        {
            return Deserialize(plain) is { } signedIn && signedIn.Expires > now ? signedIn : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static bool Open(byte[] key, byte[] sealedBytes, byte[] plain)
    {
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(sealedBytes.AsSpan(1, NonceSize), sealedBytes.AsSpan(Header), sealedBytes.AsSpan(1 + NonceSize, TagSize), plain, Purpose);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    // {"exp":1767225600,"auth":"password","name":"...","role":"...","claims":[["type","value"],...]}, written and read by hand
    // (no serializer: nothing to trim or generate).
    private static byte[] Serialize(ClaimsPrincipal user, DateTimeOffset expires)
    {
        var identity = user.Identity as ClaimsIdentity ?? throw new ArgumentException("res.SignIn needs a ClaimsIdentity.", nameof(user));
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("exp", expires.ToUnixTimeSeconds());
            json.WriteString("auth", identity.AuthenticationType);
            json.WriteString("name", identity.NameClaimType);
            json.WriteString("role", identity.RoleClaimType);
            json.WriteStartArray("claims");
            foreach (var claim in identity.Claims)
            {
                json.WriteStartArray();
                json.WriteStringValue(claim.Type);
                json.WriteStringValue(claim.Value);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static (ClaimsPrincipal User, DateTimeOffset Expires)? Deserialize(byte[] plain)
    {
        using var document = JsonDocument.Parse(plain);
        var root = document.RootElement;
        var expires = DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("exp").GetInt64());
        var claims = new List<Claim>();
        foreach (var pair in root.GetProperty("claims").EnumerateArray())
            claims.Add(new Claim(pair[0].GetString()!, pair[1].GetString()!));
        var identity = new ClaimsIdentity(claims, root.GetProperty("auth").GetString(), root.GetProperty("name").GetString(), root.GetProperty("role").GetString());
        return identity.IsAuthenticated ? (new ClaimsPrincipal(identity), expires) : null;
    }
}
