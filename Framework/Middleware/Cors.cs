namespace Bocata;

/// <summary>The CORS layer: answers preflight requests and adds the allow headers to responses for allowed origins (Fetch standard, CORS protocol).</summary>
internal static class Cors
{
    public static Handler Wrap(Handler next, CorsSettings settings)
    {
        var anyOrigin = settings.AllowOrigins.Contains("*");
        var origins = new HashSet<string>(settings.AllowOrigins, StringComparer.OrdinalIgnoreCase);
        var methods = string.Join(", ", settings.AllowMethods.Select(m => m.ToUpperInvariant()));
        var anyHeader = settings.AllowHeaders.Contains("*");
        var headers = string.Join(", ", settings.AllowHeaders);
        var expose = string.Join(", ", settings.ExposeHeaders);
        var maxAge = settings.MaxAge.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var varies = !anyOrigin || settings.AllowCredentials;

        return async (req, res) =>
        {
            var origin = req.Headers["Origin"];
            if (origin is null)
            {
                await next(req, res);
                // The answer depends on Origin (unless any origin gets the same "*"): say so, even without one, for caches.
                if (varies && !req.Context.ResponseFeature.HasStarted) res.Headers.Append("Vary", "Origin");
                return;
            }
            var allowed = anyOrigin || origins.Contains(origin);
            var preflight = req.Method == "OPTIONS" && req.Headers["Access-Control-Request-Method"] is not null;
            if (preflight)
            {
                var requested = req.Headers["Access-Control-Request-Method"]!;
                var requestedHeaders = req.Headers["Access-Control-Request-Headers"];
                var methodOk = settings.AllowMethods.Contains(requested, StringComparer.OrdinalIgnoreCase);
                var headersOk = requestedHeaders is null || anyHeader || requestedHeaders.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .All(h => settings.AllowHeaders.Contains(h, StringComparer.OrdinalIgnoreCase));
                if (!allowed || !methodOk || !headersOk)
                    throw new HttpError(400, !allowed ? "CORS: origin not allowed." : !methodOk ? $"CORS: method {requested} not allowed." : "CORS: headers not allowed.");
                SetOrigin(res, origin);
                res.Headers["Access-Control-Allow-Methods"] = methods;
                if (requestedHeaders is not null) res.Headers["Access-Control-Allow-Headers"] = anyHeader ? requestedHeaders : headers;
                res.Headers["Access-Control-Max-Age"] = maxAge;
                res.StatusCode = 204;
                return;
            }

            await next(req, res);
            // An upgraded WebSocket has answered long ago (its origin was checked at the handshake): nothing to add.
            if (req.Context.ResponseFeature.HasStarted) return;
            if (!allowed)
            {
                if (varies) res.Headers.Append("Vary", "Origin");
                return;
            }
            SetOrigin(res, origin);
            if (expose.Length > 0) res.Headers["Access-Control-Expose-Headers"] = expose;
        };

        void SetOrigin(Response res, string origin)
        {
            // Echo the origin unless any origin is allowed without credentials; a per-origin answer must say Vary: Origin for caches.
            res.Headers["Access-Control-Allow-Origin"] = anyOrigin && !settings.AllowCredentials ? "*" : origin;
            if (settings.AllowCredentials) res.Headers["Access-Control-Allow-Credentials"] = "true";
            if (!anyOrigin || settings.AllowCredentials) res.Headers.Append("Vary", "Origin");
        }
    }
}
