namespace Bocata;

/// <summary>
/// Carries an <see cref="EventHub"/>'s events between instances (e.g. <c>Bocata.Redis.RedisBackplane</c>): one global order,
/// numbered by the backplane, with history for <c>Last-Event-ID</c> resumption. The hub keeps its ring, cursors, eviction,
/// replay and pings; the backplane only numbers, carries and retains events.
/// </summary>
public interface IEventBackplane : IAsyncDisposable
{
    /// <summary>Starts delivering every event published by any instance to <paramref name="sink"/>, in the global order, each
    /// number once. Returns the last number already used, after which delivery starts.</summary>
    long Attach(IEventBackplaneSink sink);

    /// <summary>Publishes <paramref name="evt"/> for every instance; returns its number. Fails (never hangs, never drops
    /// silently) when the backplane cannot confirm it.</summary>
    Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default);

    /// <summary>Publishes <paramref name="evt"/> once per <paramref name="idempotencyKey"/>: a publish with a key already numbered
    /// (within the backplane's idempotency window) publishes nothing and returns the first one's number, so a publish that timed
    /// out can be retried safely.</summary>
    Task<long> PublishAsync(ServerEvent evt, string idempotencyKey, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not deduplicate publishes: publish without an idempotency key.");

    /// <summary>Publishes <paramref name="evt"/> to <paramref name="topic"/> of the hub ("" for its default topic), once per
    /// <paramref name="idempotencyKey"/> when one is given. A backplane that does not carry topics supports only "".</summary>
    Task<long> PublishAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken = default) =>
        topic.Length != 0 ? throw new NotSupportedException($"{GetType().Name} does not carry topics: publish to the hub's default topic, or use a backplane that does (RedisBackplane).")
        : idempotencyKey is null ? PublishAsync(evt, cancellationToken) : PublishAsync(evt, idempotencyKey, cancellationToken);

    /// <summary>This instance's subscribers of <paramref name="topic"/> are now <paramref name="count"/> (for presence). Called
    /// under the hub's lock: record it, never wait. A backplane that does not track presence ignores it.</summary>
    void SubscribersChanged(string topic, int count)
    {
    }

    /// <summary>The subscribers of <paramref name="topic"/> on every instance (presence), given this instance's
    /// <paramref name="local"/> count. A backplane that does not track presence answers with the local count.</summary>
    Task<long> CountSubscribersAsync(string topic, long local) => Task.FromResult(local);

    /// <summary>The retained events numbered <paramref name="from"/> to <paramref name="to"/> (inclusive), in order.</summary>
    Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default);
}

/// <summary>Where a backplane delivers events: the hub of this instance.</summary>
public interface IEventBackplaneSink
{
    /// <summary>The last number delivered here.</summary>
    long LastSequence { get; }

    /// <summary>Where a backplane without loggers of its own logs repairs and faults: the app's loggers (those of the last app
    /// started in this process), so they show up without wiring. Null before any app started.</summary>
    Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory => AppLoggers.Current;

    /// <summary>How many of the newest events the hub can hold. When more than this were missed, a backplane needs to deliver only
    /// the newest this many (subscribers further behind are evicted and resume from the backplane's history).</summary>
    long Capacity => long.MaxValue;

    /// <summary>The next event of the global order (numbers only increase; a skipped number was lost for good).</summary>
    void Deliver(long sequence, ServerEvent evt);

    /// <summary>The next event of the global order, published to <paramref name="topic"/> ("" for the default topic).</summary>
    void Deliver(long sequence, string topic, ServerEvent evt)
    {
        if (topic.Length == 0) Deliver(sequence, evt);
    }

    /// <summary>The backplane's sequence restarted (its store lost its data): open streams end so clients resynchronise,
    /// and numbering continues after <paramref name="lastSequence"/>.</summary>
    void Reset(long lastSequence);
}

/// <summary>An event as the backplane retains it, with its global number.</summary>
public readonly record struct BackplaneEvent(long Sequence, ServerEvent Event)
{
    /// <summary>The hub's topic it was published to ("" for the default topic).</summary>
    public string Topic { get; init; } = "";
}

/// <summary>The loggers of the last app started in this process, for components built outside an app (a backplane).</summary>
internal static class AppLoggers
{
    private static Microsoft.Extensions.Logging.ILoggerFactory? s_current;

    public static Microsoft.Extensions.Logging.ILoggerFactory? Current
    {
        get => Volatile.Read(ref s_current);
        set => Volatile.Write(ref s_current, value);
    }
}
