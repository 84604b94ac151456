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

    /// <summary>Publishes <paramref name="evt"/> to the named <paramref name="topic"/> only if the topic's newest event is still
    /// numbered <paramref name="expectedLastId"/> (0: the topic has none), atomically; otherwise throws
    /// <see cref="PublishConflictException"/> and publishes nothing.</summary>
    Task<long> PublishAsync(string topic, ServerEvent evt, long expectedLastId, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not publish conditionally: publish without expectedLastId, or use a backplane that does (RedisBackplane).");

    /// <summary>The number of the newest retained event of the named <paramref name="topic"/> (0: none), as a conditional publish compares it.</summary>
    Task<long> ReadTopicLastAsync(string topic, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not publish conditionally: use a backplane that does (RedisBackplane).");

    /// <summary>This instance's subscribers of <paramref name="topic"/> are now <paramref name="count"/> (for presence). Called
    /// under the hub's lock: record it, never wait. A backplane that does not track presence ignores it.</summary>
    void SubscribersChanged(string topic, int count)
    {
    }

    /// <summary>The subscribers of <paramref name="topic"/> on every instance (presence), given this instance's
    /// <paramref name="local"/> count. A backplane that does not track presence answers with the local count.</summary>
    Task<long> CountSubscribersAsync(string topic, long local) => Task.FromResult(local);

    /// <summary>Why this backplane cannot confirm publishes right now (its connection is down), or null when it can. The app's
    /// readiness endpoint reports it (<c>app.Ready(name, hub)</c>), so an orchestrator sends no traffic to an instance that
    /// would answer 503 to every publish.</summary>
    string? Unavailable => null;

    /// <summary>Tells every instance on this backplane (this one included) to end the streams of <paramref name="user"/>
    /// (<see cref="IEventBackplaneSink.Disconnect"/>), for <c>hub.DisconnectAsync</c>. Carries no event and takes no number. A
    /// backplane that connects no other instance does nothing.</summary>
    Task DisconnectAsync(string user, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>The retained events numbered <paramref name="from"/> to <paramref name="to"/> (inclusive), in order.</summary>
    Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default);

    /// <summary>Whether named topics reach an instance only while it listens to them (<see cref="Listen"/>): the hub then keeps
    /// the events of the topics its subscribers read, and reads older ones of a topic from <see cref="ReadTopicAsync"/>. A
    /// backplane that delivers every topic to every instance says false.</summary>
    bool ListensByTopic => false;

    /// <summary>This instance has a subscriber to <paramref name="topic"/> (a named topic) and needs its events. Called under the
    /// hub's lock: record it, never wait. True when the topic's events already reach this instance; false when the backplane
    /// starts listening and calls <see cref="IEventBackplaneSink.TopicReady"/> once every event of the topic numbered after
    /// <paramref name="after"/> was delivered (the hub holds the topic's streams until then). It stops listening after the
    /// topic's last subscriber left (and <see cref="IEventBackplaneSink.StopListening"/> agrees).</summary>
    bool Listen(string topic, long after) => true;

    /// <summary>The highest number this instance knows the backplane gave (published, heard, or returned by a listen): a resume's id
    /// at most this is one of the hub's numbers without asking the backplane.</summary>
    long KnownSequence => 0;

    /// <summary>The last number the backplane gave, read from it (a resume's id beyond <see cref="KnownSequence"/> is checked
    /// against it: an id beyond it is not one of this hub's). A backplane that cannot tell answers <see cref="long.MaxValue"/>.</summary>
    Task<long> ReadLastSequenceAsync(CancellationToken cancellationToken = default) => Task.FromResult(long.MaxValue);

    /// <summary>The topic's low-water mark: the number of its newest event no longer retained (trimmed, or expired), 0 when
    /// nothing of it was ever dropped or the backplane cannot tell. A resume from before it cannot be exact.</summary>
    Task<long> ReadTopicLowWaterAsync(string topic, CancellationToken cancellationToken = default) => Task.FromResult(0L);

    /// <summary>The newest <paramref name="count"/> retained events of the named <paramref name="topic"/> numbered at most
    /// <paramref name="to"/>, in order (a resume older than what this instance holds).</summary>
    async Task<IReadOnlyList<BackplaneEvent>> ReadTopicAsync(string topic, long to, int count, CancellationToken cancellationToken = default)
    {
        var all = await ReadAsync(1, to, cancellationToken);
        return [.. all.Where(e => e.Topic == topic).TakeLast(count)];
    }
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

    /// <summary>The next event of <paramref name="topic"/> ("" for the default topic): <paramref name="previous"/> is the number of
    /// the topic's event before it (0: none, or not known). A previous number this instance never got tells the hub its topic
    /// is complete only after it (older events come from the backplane's history).</summary>
    void Deliver(long sequence, long previous, string topic, ServerEvent evt) => Deliver(sequence, topic, evt);

    /// <summary>The number of the last event of <paramref name="topic"/> delivered here (0: none).</summary>
    long TopicLast(string topic) => LastSequence;

    /// <summary>Events of <paramref name="topic"/> numbered up to <paramref name="through"/> are gone from the backplane (its
    /// stream expired or was trimmed) with none after them to deliver: this instance's ring of it is complete only after that,
    /// and its streams that started before end (their resumes say `resync`).</summary>
    void TopicHole(string topic, long through)
    {
    }

    /// <summary>Whether this instance holds an event of <paramref name="topic"/> (a topic that never had one has nothing to keep
    /// warm: a backplane stops listening to it as soon as it has no subscriber, without lingering).</summary>
    bool Holds(string topic) => true;

    /// <summary>Every event of <paramref name="topic"/> numbered up to <paramref name="through"/> that this instance listens for
    /// was delivered, in order with the rest: its streams may go on.</summary>
    void TopicReady(string topic, long through)
    {
    }

    /// <summary>Events may have been missed (the connection that carries them dropped): every listened topic's streams wait until
    /// the backplane has caught up and calls <see cref="TopicReady"/> again, so no stream takes a number before an older one.</summary>
    void Hold()
    {
    }

    /// <summary>The backplane wants to stop listening to <paramref name="topic"/> (no subscriber for a while). False when the
    /// topic has subscribers again: it keeps listening.</summary>
    bool StopListening(string topic) => true;

    /// <summary>Another instance (or this one) asked to end the streams of <paramref name="user"/> (<c>hub.DisconnectAsync</c>).</summary>
    void Disconnect(string user)
    {
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

    /// <summary>The number of its topic's event before it (0: none), as the backplane recorded it when it was published; -1 when
    /// not recorded. A reader compares it with what it already has: a greater one is a hole (a trimmed range), never a silent skip.</summary>
    public long Previous { get; init; } = -1;
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
