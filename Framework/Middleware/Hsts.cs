namespace Bocata;

/// <summary>HTTPS enforcement: plain-HTTP requests are redirected (301) to HTTPS; HTTPS responses carry Strict-Transport-Security (RFC 6797).</summary>
internal static class Hsts
{
    public static Handler Wrap(Handler next, TimeSpan maxAge) => async (req, res) =>
    {
        if (req.Url.Scheme != Uri.UriSchemeHttps)
        {
            var target = new UriBuilder(req.Url) { Scheme = Uri.UriSchemeHttps, Port = -1 }.Uri;
            throw new Redirect(target.AbsoluteUri, permanent: true);
        }
        await next(req, res);
        res.Headers["Strict-Transport-Security"] = $"max-age={(long)maxAge.TotalSeconds}; includeSubDomains";
    };
}
