using Microsoft.Net.Http.Headers;

namespace Bocata;

/// <summary>Sets and deletes cookies through <c>Set-Cookie</c> headers.</summary>
public sealed class ResponseCookies
{
    private readonly Headers _headers;

    internal ResponseCookies(Headers headers) => _headers = headers;

    /// <summary>Sets a cookie. The value is percent-encoded; attributes follow RFC 6265.</summary>
    public void Set(string name, string value, string path = "/", string? domain = null, TimeSpan? maxAge = null,
        DateTimeOffset? expires = null, bool secure = false, bool httpOnly = true, string? sameSite = "Lax")
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        var cookie = new SetCookieHeaderValue(name, Uri.EscapeDataString(value))
        {
            Path = path,
            Domain = domain,
            MaxAge = maxAge,
            Expires = expires,
            Secure = secure,
            HttpOnly = httpOnly,
            SameSite = sameSite?.ToUpperInvariant() switch
            {
                null => SameSiteMode.Unspecified,
                "STRICT" => SameSiteMode.Strict,
                "LAX" => SameSiteMode.Lax,
                "NONE" => SameSiteMode.None,
                _ => throw new ArgumentException($"sameSite must be \"Strict\", \"Lax\", \"None\" or null, not \"{sameSite}\".", nameof(sameSite)),
            },
        };
        _headers.Append("Set-Cookie", cookie.ToString());
    }

    /// <summary>Asks the client to delete a cookie.</summary>
    public void Delete(string name, string path = "/", string? domain = null) =>
        Set(name, "", path, domain, maxAge: TimeSpan.Zero, expires: DateTimeOffset.UnixEpoch);
}
