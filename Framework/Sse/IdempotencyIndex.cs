namespace Bocata;

/// <summary>An in-memory hub's idempotency keys: each names the frame its first publish made, and is kept while that frame is
/// held (at most about four keys per held frame). Guarded by the hub's lock. A hub on a backplane keeps its keys there.</summary>
internal sealed class IdempotencyIndex
{
    private readonly Dictionary<string, (TopicRing Ring, long Local)> _first = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, TopicRing Ring, long Local)> _order = new();

    /// <summary>The frame the first publish with <paramref name="key"/> made, while it is held.</summary>
    public HubFrame? Find(string key) => _first.TryGetValue(key, out var first) ? first.Ring.FrameAt(first.Local) : null;

    /// <summary>Remembers that <paramref name="key"/> made the frame <paramref name="local"/> of <paramref name="ring"/>, and
    /// forgets the oldest keys whose frames left (or past four per held frame).</summary>
    public void Add(string key, TopicRing ring, long local, long heldFrames)
    {
        _first[key] = (ring, local);
        _order.Enqueue((key, ring, local));
        while (_order.TryPeek(out var oldest) && (oldest.Ring.FrameAt(oldest.Local) is null || _order.Count > 4 * Math.Max(heldFrames, 256)))
        {
            _order.Dequeue();
            if (_first.TryGetValue(oldest.Key, out var at) && at == (oldest.Ring, oldest.Local)) _first.Remove(oldest.Key);
        }
    }

    /// <summary>After topics were forgotten: their keys go.</summary>
    public void Compact()
    {
        var keys = _order.Where(k => !k.Ring.Forgotten).ToList();
        _order.Clear();
        foreach (var k in keys) _order.Enqueue(k);
        foreach (var key in _first.Where(e => e.Value.Ring.Forgotten).Select(e => e.Key).ToList()) _first.Remove(key);
    }

    public void Clear()
    {
        _first.Clear();
        _order.Clear();
    }
}
