namespace Bocata;

/// <summary>Keeps the responses of <c>.Idempotent()</c> routes in this process, at most <see cref="MaxEntries"/> (the oldest go
/// first), each for its window: enough for one instance; several behind a load balancer share one store (Bocata.Redis).</summary>
public sealed class MemoryIdempotencyStore : IIdempotencyStore
{
    private readonly Dictionary<string, (IdempotentEntry Entry, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, DateTimeOffset Expires)> _order = new();
    private readonly TimeProvider _clock;

    /// <summary>A store on the system clock.</summary>
    public MemoryIdempotencyStore() : this(TimeProvider.System)
    {
    }

    /// <summary>A store on <paramref name="clock"/> (tests).</summary>
    public MemoryIdempotencyStore(TimeProvider clock) => _clock = clock ?? throw new ArgumentNullException(nameof(clock));

    /// <summary>The most keys held at once (default 10,000): a flood of new keys evicts the oldest instead of growing memory.</summary>
    public int MaxEntries { get; init; } = 10_000;

    /// <summary>Keys held now, finished or running.</summary>
    public int Count
    {
        get
        {
            lock (_entries) return _entries.Count;
        }
    }

    /// <inheritdoc/>
    public ValueTask<IdempotentEntry?> TryReserveAsync(string key, string fingerprint, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        var now = _clock.GetUtcNow();
        lock (_entries)
        {
            if (_entries.TryGetValue(key, out var held) && held.Expires > now) return ValueTask.FromResult<IdempotentEntry?>(held.Entry);
            Put(key, new IdempotentEntry { Fingerprint = fingerprint }, now + lease, now);
            return ValueTask.FromResult<IdempotentEntry?>(null);
        }
    }

    /// <inheritdoc/>
    public ValueTask CompleteAsync(string key, IdempotentEntry entry, TimeSpan window, CancellationToken cancellationToken = default)
    {
        var now = _clock.GetUtcNow();
        lock (_entries) Put(key, entry, now + window, now);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_entries) _entries.Remove(key);
        return ValueTask.CompletedTask;
    }

    private void Put(string key, IdempotentEntry entry, DateTimeOffset expires, DateTimeOffset now)
    {
        _entries[key] = (entry, expires);
        _order.Enqueue((key, expires));
        // The queue holds every (key, expiry) put, oldest first; an entry whose expiry changed since is skipped when dequeued.
        while (_order.TryPeek(out var oldest) && (oldest.Expires <= now || _entries.Count > MaxEntries || _order.Count > 2 * MaxEntries + 16))
        {
            _order.Dequeue();
            if (_entries.TryGetValue(oldest.Key, out var current) && current.Expires == oldest.Expires) _entries.Remove(oldest.Key);
        }
    }
}
