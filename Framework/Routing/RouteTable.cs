using System.Collections.Frozen;

namespace Bocata;

/// <summary>The routes of an app compiled once: static paths in a frozen lookup, patterns in registration order, then mounts.</summary>
internal sealed class RouteTable
{
    private readonly FrozenDictionary<string, Entry> _static;
    private readonly Entry[] _dynamic;
    private readonly FrozenDictionary<string, Entry[]> _byFirstSegment;
    private readonly FrozenDictionary<string, Entry[]>.AlternateLookup<ReadOnlySpan<char>> _firstSegmentLookup;
    private readonly Entry[] _anyFirst;
    private readonly (string Prefix, Handler Handler)[] _mounts;
    private readonly bool _redirectTrailingSlash;

    public RouteTable(IEnumerable<Route> routes, IEnumerable<(string Prefix, Handler Handler)> mounts, Func<Type, bool> isService, bool redirectTrailingSlash, Action<string>? warn = null)
    {
        var entries = new List<Entry>();
        foreach (var group in routes.GroupBy(r => r.Path))
        {
            var handlers = new Dictionary<string, Handler>(StringComparer.OrdinalIgnoreCase);
            foreach (var route in group)
            {
                foreach (var (method, handler) in route.Build(isService))
                {
                    if (!handlers.TryAdd(method, handler))
                        throw new InvalidOperationException($"Route {method} {route.Path} is registered twice (check included routers).");
                }
            }
            entries.Add(new Entry(group.First().Pattern, handlers));
        }
        for (var i = 0; i < entries.Count; i++) entries[i].Order = i;
        _dynamic = [.. entries.Where(e => !e.Pattern.IsStatic)];
        // Routes match in registration order (Bocadillo's rule). A literal path is looked up directly unless a pattern
        // registered before it matches that very path: then the pattern always wins and the literal route is unreachable.
        var captures = new int[32];
        var reachable = new List<Entry>();
        foreach (var entry in entries.Where(e => e.Pattern.IsStatic))
        {
            if (_dynamic.FirstOrDefault(d => d.Order < entry.Order && d.Pattern.TryMatch(entry.Pattern.Text, captures)) is { } shadow)
                warn?.Invoke($"Route {entry.Pattern.Text} is shadowed by {shadow.Pattern.Text}, added before it: routes match in registration order, so requests for {entry.Pattern.Text} reach {shadow.Pattern.Text}. Add {entry.Pattern.Text} first if it should win.");
            else reachable.Add(entry);
        }
        _static = reachable.ToFrozenDictionary(e => e.Pattern.Text, StringComparer.Ordinal);
        // Patterns are bucketed by a literal first segment so a request only tries the patterns that can match;
        // patterns starting with a parameter are tried too, merged in registration order.
        _byFirstSegment = _dynamic.Where(e => e.Pattern.FirstLiteralSegment is not null)
            .GroupBy(e => e.Pattern.FirstLiteralSegment!, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        _firstSegmentLookup = _byFirstSegment.GetAlternateLookup<ReadOnlySpan<char>>();
        _anyFirst = [.. _dynamic.Where(e => e.Pattern.FirstLiteralSegment is null)];
        _mounts = [.. mounts.OrderByDescending(m => m.Prefix.Length)];
        _redirectTrailingSlash = redirectTrailingSlash;
    }

    public Task DispatchAsync(Request req, Response res)
    {
        var path = req.Path;
        var entry = Find(path, req.RouteValues);
        if (entry is not null)
        {
            var upgrade = WebSocketHandshake.IsUpgrade(req);
            var handler = upgrade ? entry.WebSocket : entry.HandlerFor(req.Method);
            // A WebSocket handshake to a route that only speaks HTTP is refused (403, Bocadillo's rule); no HTTP handler runs.
            if (upgrade && handler is null) throw HandshakeRefusals.Refuse(req, 403, "This route does not accept WebSocket connections.");
            if (handler is null && req.Method is "GET" or "HEAD" && entry.WebSocket is not null) throw WebSocketHandshake.UpgradeRequired(req);
            if (handler is null)
            {
                var error = new HttpError(405, $"Method {req.Method} is not allowed on {path}.");
                error.Headers["Allow"] = entry.Allow;
                throw error;
            }
            req.RouteValues.Set(path, entry.Pattern);
            req.PathParams = req.RouteValues;
            req.MatchedPattern = entry.Pattern;
            req.MatchedBase = req.PathBase;
            return handler(req, res);
        }

        foreach (var (prefix, mounted) in _mounts)
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal) && (path.Length == prefix.Length || path[prefix.Length] == '/'))
                return DispatchToMountAsync(req, res, prefix, mounted);
        }

        if (_redirectTrailingSlash && !path.EndsWith('/') && Find(path + "/", req.RouteValues) is not null)
        {
            // Built from the raw, still percent-encoded target: a decoded path could hold characters (even CR/LF) a Location header cannot.
            var raw = req.RawTarget;
            var queryStart = raw.IndexOf('?', StringComparison.Ordinal);
            throw new Redirect(queryStart < 0 ? raw + "/" : raw[..queryStart] + "/" + raw[queryStart..]);
        }
        // A WebSocket handshake to an unknown path is refused like a rejected one (403), as Bocadillo does.
        if (WebSocketHandshake.IsUpgrade(req)) throw HandshakeRefusals.Refuse(req, 403, "No WebSocket endpoint here.");
        throw new HttpError(404);
    }

    private static async Task DispatchToMountAsync(Request req, Response res, string prefix, Handler mounted)
    {
        var (path, pathBase) = (req.Path, req.PathBase);
        req.Path = path.Length == prefix.Length ? "/" : path[prefix.Length..];
        req.PathBase = pathBase + prefix;
        try
        {
            await mounted(req, res);
        }
        finally
        {
            (req.Path, req.PathBase) = (path, pathBase);
        }
    }

    /// <summary>Whether a route matches <paramref name="path"/> (for benchmarks and diagnostics).</summary>
    internal bool Match(string path, RouteValues values) => Find(path, values) is not null;

    private Entry? Find(string path, RouteValues values)
    {
        if (_static.TryGetValue(path, out var entry)) return entry;
        if (_dynamic.Length == 0 || path.Length == 0) return null;
        var rest = path.AsSpan(1);
        var slash = rest.IndexOf('/');
        var first = slash < 0 ? rest : rest[..slash];
        var bucket = _firstSegmentLookup.TryGetValue(first, out var found) ? found : [];
        var any = _anyFirst;
        int i = 0, j = 0;
        while (i < bucket.Length || j < any.Length)
        {
            var candidate = j >= any.Length || (i < bucket.Length && bucket[i].Order < any[j].Order) ? bucket[i++] : any[j++];
            if (candidate.Pattern.TryMatch(path, values.Captures)) return candidate;
        }
        return null;
    }

    /// <summary>The key WebSocket handlers are registered under (not an HTTP method: no request carries it).</summary>
    internal const string WebSocketMethod = "WEBSOCKET";

    private sealed class Entry
    {
        private readonly string[] _methods;
        private readonly Handler[] _handlers;
        private readonly Handler? _any;

        public Entry(RoutePattern pattern, Dictionary<string, Handler> handlers)
        {
            Pattern = pattern;
            handlers.TryGetValue("*", out _any);
            handlers.Remove("*");
            if (handlers.Remove(WebSocketMethod, out var webSocket)) WebSocket = webSocket;
            if (!handlers.ContainsKey("HEAD") && handlers.TryGetValue("GET", out var get)) handlers["HEAD"] = get;
            _methods = [.. handlers.Keys];
            _handlers = [.. handlers.Values];
            var http = _methods.Order(StringComparer.Ordinal).ToList();
            if (WebSocket is not null && !http.Contains("GET")) http.Insert(0, "GET");
            Allow = _any is not null ? "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" : string.Join(", ", http);
        }

        public RoutePattern Pattern { get; }

        /// <summary>The route's WebSocket handler, reached only by a handshake.</summary>
        public Handler? WebSocket { get; }

        public int Order { get; set; }

        public string Allow { get; }

        public Handler? HandlerFor(string method)
        {
            for (var i = 0; i < _methods.Length; i++)
                if (string.Equals(_methods[i], method, StringComparison.OrdinalIgnoreCase)) return _handlers[i];
            return _any;
        }
    }
}
