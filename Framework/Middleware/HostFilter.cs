namespace Bocata;

/// <summary>Rejects requests whose Host header is not in <see cref="Settings.AllowedHosts"/> (DNS rebinding protection).</summary>
internal static class HostFilter
{
    public static Handler Wrap(Handler next, string[] allowed) => (req, res) =>
    {
        var host = req.Headers["Host"] ?? "";
        var colon = host.LastIndexOf(':');
        if (colon > 0 && !host.EndsWith(']')) host = host[..colon];
        foreach (var pattern in allowed)
        {
            if (string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase)) return next(req, res);
            if (pattern.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase)) return next(req, res);
        }
        throw new HttpError(400, "Invalid host header.");
    };
}
