namespace Bocata;

/// <summary>Rejects requests whose Host header is not in <see cref="Settings.AllowedHosts"/> (DNS rebinding protection).</summary>
internal static class HostFilter
{
    /// <remarks>A host forwarded by a trusted proxy (<c>X-Forwarded-Host</c>, which <c>req.Url</c> then uses) is checked like <c>Host</c>.</remarks>
    public static Handler Wrap(Handler next, string[] allowed) => (req, res) =>
    {
        if (!Allowed(req.Headers["Host"] ?? "", allowed)) throw new HttpError(400, "Invalid host header.");
        if (req.Context.FromTrustedProxy && Forwarding.Host(req.Headers["X-Forwarded-Host"]) is { } forwarded && !Allowed(forwarded, allowed))
            throw new HttpError(400, "Invalid forwarded host.");
        return next(req, res);
    };

    private static bool Allowed(string host, string[] allowed)
    {
        var colon = host.LastIndexOf(':');
        if (colon > 0 && !host.EndsWith(']')) host = host[..colon];
        foreach (var pattern in allowed)
        {
            if (string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase)) return true;
            if (pattern.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }
}
