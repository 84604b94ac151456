namespace Bocata;

/// <summary>
/// Signs each request in from its credential, once, before user middleware runs: a bearer JWT (<see cref="JwtBearer"/>, with
/// <c>s.Jwt</c>) or the sign-in cookie (<see cref="AuthCookie"/>). A request without a
/// credential costs nothing; a bad one leaves <c>req.User</c> anonymous with the reason kept for a 401.
/// </summary>
internal sealed class Authenticator
{
    private readonly Func<string, Request, ValueTask>? _bearer;
    private readonly AuthCookie? _cookie;
    private readonly TimeProvider _clock;

    public Authenticator(Settings settings, AuthCookie? cookie)
    {
        _bearer = JwtBearer.Create(settings.Jwt, settings.JwtAuthority);
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
            // A request that failed (a wrong password answered with an error after SignIn) signs nobody in; a redirect does.
            else if (res.StatusCode < 400) res.Cookies.Set(AuthCookie.Name, _cookie.Write(change.User, _clock.GetUtcNow() + change.Lifetime), maxAge: change.Lifetime,
                secure: secure, httpOnly: true, sameSite: "Lax");
        }
    };

    private async ValueTask AuthenticateAsync(Request req)
    {
        if (_bearer is not null && BearerToken(req) is { } token)
        {
            req.Credential = CredentialKind.Bearer;
            await _bearer(token, req);
            return;
        }
        // Two sign-in cookies (one set by a sibling subdomain or over http, say) sign nobody in: which one a browser sends last is
        // not the app's choice, and taking it could sign the user in as someone else.
        if (_cookie is not null && req.Headers["Cookie"] is not null && req.CookieCount(AuthCookie.Name) == 1 && req.Cookies.TryGetValue(AuthCookie.Name, out var cookie)
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
}
