using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// Why a WebSocket handshake was refused, in the server log at warning level: a browser's <c>WebSocket</c> cannot read the
/// refusal's body, so without this the reason (an origin that is not the app's own behind a proxy, a route that does not
/// exist) is nowhere to be seen. At most one line per origin per minute, with how many were left out meanwhile.
/// </summary>
/// <remarks>
/// Guarded by <c>_lock</c>: <c>_origins</c> and the overflow fields. A flood of handshakes from made-up origins cannot grow
/// it: at most <see cref="MaxOrigins"/> origins of at most <see cref="MaxOriginLength"/> characters are remembered; past
/// that, the origins not seen for a minute are forgotten, and if none can be, the rest share one line a minute.
/// </remarks>
internal sealed class HandshakeRefusals(ILogger log, TimeProvider clock)
{
    internal const int MaxOrigins = 1024;
    internal const int MaxOriginLength = 200;
    private static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Seen> _origins = new(StringComparer.Ordinal);
    private Seen _others;
    private bool _othersLogged;
    private long _swept;
    private bool _everSwept;

    private readonly record struct Seen(long Logged, int LeftOut);

    /// <summary>Origins remembered now (for tests: never more than <see cref="MaxOrigins"/>).</summary>
    internal int Remembered
    {
        get
        {
            lock (_lock) return _origins.Count;
        }
    }

    /// <summary>Logs that the handshake of <paramref name="req"/> was refused with <paramref name="status"/> because of
    /// <paramref name="reason"/>, unless its origin was logged less than a minute ago.</summary>
    public void Refused(Request req, int status, object? reason) => Refused(req.Headers["Origin"], req.PathBase + req.Path, status, reason);

    internal void Refused(string? sentOrigin, string path, int status, object? reason)
    {
        if (!log.IsEnabled(LogLevel.Warning)) return;
        var origin = Printable(sentOrigin) ?? "(none)";
        var now = clock.GetTimestamp();
        int leftOut;
        lock (_lock)
        {
            var known = _origins.TryGetValue(origin, out var seen);
            if (known || _origins.Count < MaxOrigins || Forget(now))
            {
                if (known && clock.GetElapsedTime(seen.Logged, now) < Period)
                {
                    _origins[origin] = seen with { LeftOut = seen.LeftOut + 1 };
                    return;
                }
                leftOut = seen.LeftOut;
                _origins[origin] = new Seen(now, 0);
            }
            else
            {
                if (_othersLogged && clock.GetElapsedTime(_others.Logged, now) < Period)
                {
                    _others = _others with { LeftOut = _others.LeftOut + 1 };
                    return;
                }
                leftOut = _others.LeftOut;
                _others = new Seen(now, 0);
                _othersLogged = true;
                origin = $"{origin} (and others: too many origins to tell apart)";
            }
        }
        log.LogWarning("WebSocket handshake for {Path} from origin {Origin} refused with {Status}: {Reason}{LeftOut}",
            path, origin, status, Describe(reason),
            leftOut > 0 ? $" ({leftOut} more refused from this origin since it was last logged)" : "");
    }

    /// <summary>The refusal of <paramref name="req"/>'s handshake with <paramref name="status"/> and <paramref name="reason"/>,
    /// logged.</summary>
    public static HttpError Refuse(Request req, int status, string reason)
    {
        req.Context.Server.HandshakeRefusals.Refused(req, status, reason);
        return new HttpError(status, reason);
    }

    /// <summary>Forgets the origins logged more than a minute ago, at most once a second (a flood of new origins must not
    /// scan the whole map each time); whether that made room.</summary>
    private bool Forget(long now)
    {
        if (_everSwept && clock.GetElapsedTime(_swept, now) < TimeSpan.FromSeconds(1)) return false;
        _everSwept = true;
        _swept = now;
        foreach (var (origin, seen) in _origins)
            if (clock.GetElapsedTime(seen.Logged, now) >= Period) _origins.Remove(origin);
        return _origins.Count < MaxOrigins;
    }

    private static string Describe(object? reason) => reason switch
    {
        null => "the handler rejected it without a reason.",
        string text => text,
        IEnumerable<KeyValuePair<string, string>> members => string.Join(" ", members.Select(m => $"{m.Key}: {m.Value}")),
        _ => reason.ToString() ?? "",
    };

    private static string? Printable(string? origin) =>
        origin is null ? null
        : origin.Length <= MaxOriginLength && origin.AsSpan().IndexOfAnyExceptInRange(' ', '~') < 0 ? origin
        : "(invalid or too long)";
}
