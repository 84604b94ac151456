using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Bocata;

/// <summary>
/// Signs each request in from its credential, once, before user middleware runs: a bearer JWT (validated by Microsoft.IdentityModel's
/// <see cref="JsonWebTokenHandler"/> with <c>s.Jwt</c>) or the sign-in cookie (<see cref="AuthCookie"/>). A request without a
/// credential costs nothing; a bad one leaves <c>req.User</c> anonymous with the reason kept for a 401.
/// </summary>
internal sealed class Authenticator
{
    private readonly JsonWebTokenHandler _tokens = new();
    private readonly TokenValidationParameters? _jwt;
    private readonly AuthCookie? _cookie;
    private readonly TimeProvider _clock;

    public Authenticator(Settings settings, AuthCookie? cookie)
    {
        _jwt = settings.Jwt is { } jwt ? Harden(jwt) : null;
        _cookie = cookie;
        _clock = settings.Clock;
    }

    public bool CookieSignIn => _cookie is not null;

    public Handler Wrap(Handler next) => async (req, res) =>
    {
        res.Identity = this;
        await AuthenticateAsync(req);
        await next(req, res);
        if (_cookie is not null && res.SignInChange is { } change)
        {
            var secure = req.Url.Scheme == Uri.UriSchemeHttps;
            if (change.User is null) res.Cookies.Delete(AuthCookie.Name);
            else res.Cookies.Set(AuthCookie.Name, _cookie.Write(change.User, _clock.GetUtcNow() + change.Lifetime), maxAge: change.Lifetime,
                secure: secure, httpOnly: true, sameSite: "Lax");
        }
    };

    private async ValueTask AuthenticateAsync(Request req)
    {
        if (_jwt is not null && BearerToken(req) is { } token)
        {
            req.Credential = CredentialKind.Bearer;
            var result = await _tokens.ValidateTokenAsync(token, _jwt);
            if (result.IsValid && result.ClaimsIdentity is { } identity)
            {
                req.User = new ClaimsPrincipal(identity);
                req.CredentialExpires = result.SecurityToken is JsonWebToken { ValidTo: var to } && to != DateTime.MinValue ? new DateTimeOffset(to, TimeSpan.Zero) : null;
            }
            else req.CredentialError = TokenErrors.Describe(token, result.Exception);
            return;
        }
        if (_cookie is not null && req.Headers["Cookie"] is not null && req.Cookies.TryGetValue(AuthCookie.Name, out var cookie)
            && _cookie.Read(cookie, _clock.GetUtcNow()) is { } signedIn)
        {
            req.Credential = CredentialKind.Cookie;
            req.User = signedIn.User;
            req.CredentialExpires = signedIn.Expires;
        }
    }

    /// <summary>The token of <c>Authorization: Bearer</c>, or of <c>?access_token=</c> where a browser cannot send headers: an
    /// EventSource's GET (<c>Accept: text/event-stream</c>) and a WebSocket handshake (RFC 6750 section 2.3 allows the query form;
    /// it is accepted nowhere else, so a token in a link cannot act on an ordinary page).</summary>
    private static string? BearerToken(Request req)
    {
        if (req.Headers["Authorization"] is { } authorization)
        {
            var value = authorization.AsSpan().Trim();
            if (value.Length > 7 && value[..7].Equals("Bearer ", StringComparison.OrdinalIgnoreCase))
                return value[7..].Trim().ToString();
            return null;
        }
        if (req.QueryParams["access_token"] is { Length: > 0 } query
            && (WebSocketHandshake.IsUpgrade(req)
                || (req.Method == "GET" && req.Headers["Accept"] is { } accept && accept.Contains(MediaTypes.EventStream, StringComparison.OrdinalIgnoreCase))))
            return query;
        return null;
    }

    /// <summary>The app's parameters, copied (never changed under the app) with Bocata's rules: a token must be signed, must be
    /// checkable (keys, an issuer and an audience to compare with), names its user by <c>sub</c> and its roles by <c>role</c>
    /// unless the app says otherwise.</summary>
    private static TokenValidationParameters Harden(TokenValidationParameters jwt)
    {
        if (!jwt.RequireSignedTokens)
            throw new InvalidOperationException("s.Jwt.RequireSignedTokens is false, but Bocata never accepts unsigned tokens (anyone can write one): leave it true.");
        var hasKeys = jwt.IssuerSigningKey is not null || jwt.IssuerSigningKeys?.Any() == true || jwt.IssuerSigningKeyResolver is not null
            || jwt.IssuerSigningKeyResolverUsingConfiguration is not null || jwt.ConfigurationManager is not null;
        if (!hasKeys)
            throw new InvalidOperationException("s.Jwt has no signing key, so no token could ever be valid: set IssuerSigningKey (e.g. new SymmetricSecurityKey(key) or the issuer's RsaSecurityKey).");
        if (jwt.ValidateIssuer && jwt.ValidIssuer is null && jwt.ValidIssuers?.Any() != true && jwt.IssuerValidator is null && jwt.ConfigurationManager is null)
            throw new InvalidOperationException("s.Jwt checks the issuer but names none: set ValidIssuer = \"https://id.example\" (the tokens' iss), or ValidateIssuer = false.");
        if (jwt.ValidateAudience && jwt.ValidAudience is null && jwt.ValidAudiences?.Any() != true && jwt.AudienceValidator is null)
            throw new InvalidOperationException("s.Jwt checks the audience but names none: set ValidAudience = \"api\" (the tokens' aud), or ValidateAudience = false.");
        var hardened = jwt.Clone();
        if (hardened.NameClaimType == ClaimsIdentity.DefaultNameClaimType) hardened.NameClaimType = JwtRegisteredClaimNames.Sub;
        if (hardened.RoleClaimType == ClaimsIdentity.DefaultRoleClaimType) hardened.RoleClaimType = "role";
        return hardened;
    }
}
