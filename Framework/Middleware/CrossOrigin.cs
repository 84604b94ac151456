namespace Bocata;

/// <summary>Where a browser says a request comes from (<c>Origin</c>, else <c>Sec-Fetch-Site</c>), and the refusal of unsafe
/// requests from other origins on apps with cookie sessions (<see cref="Settings.CheckOrigin"/>).</summary>
internal static class CrossOrigin
{
    // A browser sends the SameSite=Lax session cookie with a form post from any page of the same site (another port of this
    // host, a sibling subdomain), and a form or text/plain body needs no CORS preflight; a login form posted from another
    // site needs no cookie at all to sign the user in as the attacker. Browsers name the page's origin on every such request
    // (Origin, else Sec-Fetch-Site); a client that names neither is not a browser and holds no user's cookies.

    public static Handler Wrap(Handler next, IList<string>? corsOrigins)
    {
        // CORS's "*" never lets a page send the user's cookies (browsers refuse credentials with it), so it allows no one here.
        string[] listed = corsOrigins is null ? [] : [.. corsOrigins.Where(o => o != "*")];
        return (req, res) =>
        {
            if (!IsSafe(req.Method))
            {
                if (req.Headers["Origin"] is { } origin)
                {
                    if (!IsOwnOrListed(origin, req, listed))
                        throw Refused($"it comes from a page of origin '{Printable(origin)}', not of this app");
                }
                else if (req.Headers["Sec-Fetch-Site"] is { } site
                    && !site.Equals("same-origin", StringComparison.OrdinalIgnoreCase) && !site.Equals("none", StringComparison.OrdinalIgnoreCase))
                {
                    throw Refused($"Sec-Fetch-Site says a {Printable(site)} page sent it");
                }
            }
            return next(req, res);

            HttpError Refused(string why) => new(403,
                $"Cross-origin {req.Method} refused: {why}, and it would carry the user's session cookie. " +
                "List the origin in Settings.Cors, or turn this check off with Settings.CheckOrigin = false.");
        };
    }

    /// <summary>RFC 9110 section 9.2.1's safe methods change nothing, and CONNECT opens a WebSocket over HTTP/2, which checks
    /// its own origins (<see cref="Settings.WebSocketOrigins"/>).</summary>
    private static bool IsSafe(string method) => method is "GET" or "HEAD" or "OPTIONS" or "TRACE" or "CONNECT";

    /// <summary>Whether <paramref name="origin"/> is listed (<c>"*"</c> lists every origin) or is the request's own: the host
    /// and port of <c>req.Url</c>, which honours a trusted proxy's <c>X-Forwarded-Host</c> and <c>-Proto</c>. The scheme is
    /// not compared beyond its default port (one port speaks one scheme), so an https page still reaches its app behind a TLS
    /// proxy that says which port it listens on. An opaque origin (<c>"null"</c>: a sandboxed frame, a file) is no one's.</summary>
    public static bool IsOwnOrListed(string origin, Request req, IList<string>? listed)
    {
        if (listed is not null)
        {
            foreach (var allowed in listed)
            {
                if (allowed == "*" || string.Equals(allowed.TrimEnd('/'), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
                    return true;
            }
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var o)) return false;
        var url = req.Url;
        return string.Equals(o.Host, url.Host, StringComparison.OrdinalIgnoreCase) && o.Port == url.Port;
    }

    private static string Printable(string value) =>
        value.Length <= 200 && value.All(c => c is >= ' ' and < (char)127) ? value : "(invalid)";
}
