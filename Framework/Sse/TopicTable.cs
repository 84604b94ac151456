using System.Diagnostics.CodeAnalysis;

namespace Bocata;

/// <summary>A hub's named topics: a ring created on first use, forgotten with what it holds once it has had neither a
/// subscriber nor a publish for the retention. Owns the table and the queue of idle topics; guarded by the hub's lock (every
/// member is called under it). The default topic is never here.</summary>
internal sealed class TopicTable(Func<string, TopicRing> create)
{
    private readonly Dictionary<string, TopicRing> _rings = new(StringComparer.Ordinal);
    // Topics without subscribers, oldest activity first: the retention sweep looks only at the front.
    private readonly Queue<(TopicRing Ring, long Since)> _idle = new();
    private long _nextSweep;
    // Entries of the idle queue whose ring was forgotten since it was queued (dropped in one pass when they are most of it).
    private int _stale;

    /// <summary>How long an idle topic is kept, in milliseconds.</summary>
    public long RetentionMs { get; set; } = (long)TimeSpan.FromMinutes(10).TotalMilliseconds;

    public int Count => _rings.Count;

    /// <summary>What the table costs, counted in the hub's MaxBytes: about half a kilobyte per topic and its name.</summary>
    public long Bytes { get; private set; }

    private static long Cost(string name) => 512 + 2L * name.Length;

    /// <summary>Entries of the idle queue (tests: a flood of topics that come and go leaves it small).</summary>
    internal int Queued => _idle.Count;

    public IEnumerable<TopicRing> Rings => _rings.Values;

    public bool TryGet(string name, [MaybeNullWhen(false)] out TopicRing ring) => _rings.TryGetValue(name, out ring);

    /// <summary>At most this many topics; past it, the topic idle the longest is forgotten to make room.</summary>
    public int MaxTopics { get; set; } = 100_000;

    /// <summary>The ring of <paramref name="name"/>, created on first use, and marked active now; queued for the retention sweep
    /// unless <paramref name="subscribing"/> (a subscription is about to take it: it is queued when that leaves). When the table
    /// is full, the topic idle the longest goes first (<paramref name="evicted"/>: it held frames, so the hub compacts).</summary>
    /// <exception cref="TopicsFullException">Full, and every topic has a subscriber.</exception>
    public TopicRing GetOrAdd(string name, long now, bool subscribing, long maxBytes, out bool evicted, out bool created)
    {
        evicted = false;
        created = false;
        if (!_rings.TryGetValue(name, out var ring))
        {
            created = true;
            if (_rings.Count >= MaxTopics || Bytes + Cost(name) > maxBytes) evicted = EvictIdlest();
            ring = create(name);
            _rings[name] = ring;
            Bytes += Cost(name);
        }
        ring.LastActive = now;
        if (!subscribing) QueueIdle(ring, now);
        return ring;
    }

    /// <summary>Forgets the topic idle the longest (no subscriber), whatever its age; true when it held frames.</summary>
    private bool EvictIdlest()
    {
        while (_idle.TryDequeue(out var front))
        {
            var ring = front.Ring;
            if (ring.Forgotten)
            {
                _stale--;
                continue;
            }
            ring.QueuedIdle = false;
            if (ring.SubscriberCount > 0) continue;
            var held = ring.Head > 0;
            Forget(ring);
            return held;
        }
        throw new TopicsFullException(MaxTopics);
    }

    /// <summary>Forgets <paramref name="ring"/> and what it holds (idle for the retention, evicted, or empty and left).</summary>
    public void Forget(TopicRing ring)
    {
        if (ring.Forgotten) return;
        ring.Forgotten = true;
        _rings.Remove(ring.Name);
        Bytes -= Cost(ring.Name);
        ring.Clear();
        if (ring.QueuedIdle && ++_stale > 1024 && _stale > _idle.Count / 2)
        {
            var kept = _idle.Where(e => !e.Ring.Forgotten).ToList();
            _idle.Clear();
            foreach (var e in kept) _idle.Enqueue(e);
            _idle.TrimExcess();
            _stale = 0;
        }
    }

    /// <summary>How many topics one sweep forgets at most.</summary>
    public const int SweepSlice = 4096;

    /// <summary>The last sweep stopped at its slice: more topics are due.</summary>
    public bool SweepPending { get; private set; }

    /// <summary>Whether a sweep is due (at most every 1/8 of the retention, unless forced).</summary>
    public bool SweepDue(long now) => now >= _nextSweep;

    /// <summary>Forgets topics idle for the retention; returns how many. The idle queue is in the order topics were queued; only
    /// fronts queued longer than the retention ago are looked at — forgotten, dropped (a subscriber came back), or sent to the
    /// back when active again since — so it costs nothing when nothing expires.</summary>
    /// <remarks>At most <see cref="SweepSlice"/> topics per call (a publish or subscribe waits for at most that many under the
    /// hub's lock); when more are due, the next publish or subscribe sweeps the next slice.</remarks>
    public int Sweep(long now)
    {
        var retention = RetentionMs;
        _nextSweep = now + Math.Max(1, retention / 8);
        var forgotten = 0;
        while (_idle.TryPeek(out var front) && now - front.Since >= retention)
        {
            if (forgotten == SweepSlice)
            {
                _nextSweep = now;
                SweepPending = true;
                return forgotten;
            }
            _idle.Dequeue();
            var ring = front.Ring;
            if (ring.Forgotten)
            {
                _stale--;
            }
            else if (ring.SubscriberCount > 0)
            {
                ring.QueuedIdle = false;
            }
            else if (now - ring.LastActive < retention)
            {
                // Published to since it was queued: its turn comes again a retention after that.
                _idle.Enqueue((ring, ring.LastActive));
            }
            else
            {
                ring.QueuedIdle = false;
                Forget(ring);
                forgotten++;
            }
        }
        SweepPending = false;
        if (forgotten > 0)
        {
            _idle.TrimExcess();
            _rings.TrimExcess();
        }
        return forgotten;
    }

    /// <summary>Queues a topic that has no subscribers, once, for the retention sweep.</summary>
    public void QueueIdle(TopicRing ring, long now)
    {
        if (ring.SubscriberCount > 0 || ring.QueuedIdle || ring.Forgotten) return;
        ring.QueuedIdle = true;
        _idle.Enqueue((ring, now));
    }
}

/// <summary>A hub holds its maximum of topics (<see cref="EventHub.MaxTopics"/>, or what <see cref="EventHub.MaxBytes"/>
/// allows them) and every one has a subscriber.</summary>
public sealed class TopicsFullException(int maxTopics) : ArgumentException(
    $"This hub holds its maximum of {maxTopics} topics (EventHub.MaxTopics), each with a subscriber: no topic can be added until one is left. Raise MaxTopics if that many is expected.")
{
    /// <summary>The hub's <see cref="EventHub.MaxTopics"/>.</summary>
    public int MaxTopics { get; } = maxTopics;
}
