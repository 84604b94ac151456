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

    /// <summary>How long an idle topic is kept, in milliseconds.</summary>
    public long RetentionMs { get; set; } = (long)TimeSpan.FromMinutes(10).TotalMilliseconds;

    public int Count => _rings.Count;

    public IEnumerable<TopicRing> Rings => _rings.Values;

    public bool TryGet(string name, [MaybeNullWhen(false)] out TopicRing ring) => _rings.TryGetValue(name, out ring);

    /// <summary>The ring of <paramref name="name"/>, created on first use, and marked active now.</summary>
    public TopicRing GetOrAdd(string name, long now)
    {
        if (!_rings.TryGetValue(name, out var ring))
        {
            ring = create(name);
            _rings[name] = ring;
        }
        ring.LastActive = now;
        QueueIdle(ring, now);
        return ring;
    }

    /// <summary>Whether a sweep is due (at most every 1/8 of the retention, unless forced).</summary>
    public bool SweepDue(long now) => now >= _nextSweep;

    /// <summary>Forgets topics idle for the retention; returns how many. The idle queue is in the order topics were queued; only
    /// fronts queued longer than the retention ago are looked at — forgotten, dropped (a subscriber came back), or sent to the
    /// back when active again since — so it costs nothing when nothing expires.</summary>
    public int Sweep(long now)
    {
        var retention = RetentionMs;
        _nextSweep = now + Math.Max(1, retention / 8);
        var forgotten = 0;
        while (_idle.TryPeek(out var front) && now - front.Since >= retention)
        {
            _idle.Dequeue();
            var ring = front.Ring;
            if (ring.SubscriberCount > 0 || ring.Forgotten)
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
                ring.Forgotten = true;
                _rings.Remove(ring.Name);
                ring.Clear();
                forgotten++;
            }
        }
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
