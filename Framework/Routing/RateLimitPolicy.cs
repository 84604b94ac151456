using System.Diagnostics;
using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// <c>.RateLimit(permits, window)</c> of a route or router: each client (<see cref="RateLimitKey"/>) gets a fixed window that
/// begins with its first request, a <see cref="FixedWindowRateLimiter"/> of <c>permits</c>. One policy is shared by every
/// route it applies to (a router's limit is one budget for all its routes).
/// </summary>
/// <remarks>
/// Bounded by construction. <c>_lock</c> guards <c>_clients</c>, <c>_byStart</c> and <c>_overflow</c>. Windows are kept in the
/// order they began (a client whose window ended starts a new one at the tail), so the ended ones are always at the head and
/// every request forgets them first: only clients seen within the last window are tracked. At most <see cref="MaxClients"/>
/// are: when that many are all inside their window, a new client is not tracked on its own but shares one overflow window of
/// <c>permits</c> with every other untracked client. Nobody's count is ever reset early (an active client is never evicted,
/// which would hand it a fresh budget); the cost of a flood of distinct clients is that new clients are refused together
/// until windows end, and a warning says so once per overflow window.
/// </remarks>
internal sealed class RateLimitPolicy
{
    /// <summary>Clients tracked at once by one policy: ~360 bytes each (measured: 35.6 MB for 100,000), so ~36 MB at most whatever the flood.</summary>
    internal const int DefaultMaxClients = 100_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<ClientWindow>> _clients = new(StringComparer.Ordinal);
    private readonly LinkedList<ClientWindow> _byStart = new();
    private readonly long _windowTicks;
    private readonly string _describe;
    private ClientWindow? _overflow;

    public RateLimitPolicy(int permits, TimeSpan window)
    {
        if (permits <= 0)
            throw new ArgumentOutOfRangeException(nameof(permits), permits, "RateLimit needs at least 1 permit per window: the number of requests a client may make, e.g. .RateLimit(5, TimeSpan.FromMinutes(1)).");
        if (window <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(window), window, "RateLimit's window must be a positive duration, e.g. .RateLimit(5, TimeSpan.FromMinutes(1)).");
        Permits = permits;
        Window = window;
        // Clamped so that a window start plus the window never overflows (a window of TimeSpan.MaxValue is "for ever").
        _windowTicks = (long)Math.Min(window.TotalSeconds * Stopwatch.Frequency, long.MaxValue / 4);
        _describe = $"At most {permits} {(permits == 1 ? "request" : "requests")} per {Describe(window)}";
    }

    public int Permits { get; }

    public TimeSpan Window { get; }

    /// <summary>How many clients may be tracked on their own (tests lower it).</summary>
    public int MaxClients { get; set; } = DefaultMaxClients;

    /// <summary>Who a request counts against (tests give their own).</summary>
    public Func<Request, string> Key { get; set; } = RateLimitKey.For;

    /// <summary>Clients tracked on their own right now (excluding the overflow window).</summary>
    public int TrackedClients
    {
        get
        {
            lock (_lock) return _clients.Count;
        }
    }

    /// <summary>Wraps <paramref name="inner"/> so it runs only when every policy in <paramref name="limits"/> allows the request.</summary>
    public static Handler Wrap(Handler inner, RateLimitPolicy[] limits) => (req, res) =>
    {
        foreach (var limit in limits) limit.Check(req);
        return inner(req, res);
    };

    /// <summary>Takes a permit for the request's client, or throws the 429 with <c>Retry-After</c>.</summary>
    public void Check(Request req)
    {
        if (TryAcquire(Key(req), Stopwatch.GetTimestamp(), out var retryAfter)) return;
        // Whole seconds, at least 1 (RFC 9110 §10.2.3: delay-seconds is a non-negative integer; 0 would invite a retry storm).
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        var error = new HttpError(429, $"{_describe}; try again in {seconds} s.");
        error.Headers["Retry-After"] = seconds.ToString(CultureInfo.InvariantCulture);
        throw error;
    }

    /// <summary>Takes a permit for <paramref name="client"/> at <paramref name="now"/> (a <see cref="Stopwatch"/> timestamp);
    /// false with the time until its window ends when it has none left.</summary>
    public bool TryAcquire(string client, long now, out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            Forget(now);
            ClientWindow window;
            if (_clients.TryGetValue(client, out var node)) window = node.Value;
            else if (_clients.Count < MaxClients)
            {
                window = new ClientWindow(client, now, NewLimiter());
                _clients.Add(client, _byStart.AddLast(window));
            }
            else window = Overflow(now);
            using var lease = window.Limiter.AttemptAcquire();
            if (lease.IsAcquired)
            {
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = Stopwatch.GetElapsedTime(now, window.Start + _windowTicks);
            return false;
        }
    }

    /// <summary>Drops every window that has ended: they are at the head, oldest first.</summary>
    private void Forget(long now)
    {
        var forgot = false;
        while (_byStart.First is { } first && now - first.Value.Start >= _windowTicks)
        {
            _byStart.RemoveFirst();
            _clients.Remove(first.Value.Client!);
            first.Value.Limiter.Dispose();
            forgot = true;
        }
        // A dictionary never shrinks by itself: after a flood, give the memory back once most of it is empty.
        if (forgot && _clients.Count < _clients.EnsureCapacity(0) / 4 && _clients.EnsureCapacity(0) > 1024) _clients.TrimExcess();
    }

    private ClientWindow Overflow(long now)
    {
        if (_overflow is { } current && now - current.Start < _windowTicks) return current;
        _overflow?.Limiter.Dispose();
        AppLoggers.Current?.CreateLogger("Bocata").LogWarning(
            "RateLimit({Permits}, {Window}): {Clients} clients are inside their window, the most it tracks one by one; new clients share one budget of {Permits} until windows end (a flood of distinct addresses?).",
            Permits, Window, _clients.Count, Permits);
        return _overflow = new ClientWindow(null, now, NewLimiter());
    }

    private FixedWindowRateLimiter NewLimiter() => new(new FixedWindowRateLimiterOptions
    {
        PermitLimit = Permits,
        Window = Window,
        QueueLimit = 0,
        // Each limiter lives exactly one window (then it is forgotten): no timer per client, nothing to replenish.
        AutoReplenishment = false,
    });

    private static string Describe(TimeSpan window) => window switch
    {
        { TotalHours: var h } when h >= 1 && h == Math.Floor(h) => h == 1 ? "hour" : $"{h} hours",
        { TotalMinutes: var m } when m >= 1 && m == Math.Floor(m) => m == 1 ? "minute" : $"{m} minutes",
        { TotalSeconds: var s } when s == 1 => "second",
        { TotalSeconds: var s } => $"{s.ToString(CultureInfo.InvariantCulture)} seconds",
    };

    /// <summary>One client's window (the overflow window has no client).</summary>
    private sealed class ClientWindow(string? client, long start, FixedWindowRateLimiter limiter)
    {
        public string? Client { get; } = client;

        public long Start { get; } = start;

        public FixedWindowRateLimiter Limiter { get; } = limiter;
    }
}
