namespace Bocata;

/// <summary>What a hub holds across its topics, in publishing order: the bytes and frames counted, and the oldest dropped first
/// when the bytes pass <see cref="MaxBytes"/> (the newest always stays). Entries name frames without holding them, so a frame
/// that left its ring is collected at once; the queue is compacted as frames leave. Guarded by the hub's lock.</summary>
internal sealed class HeldFrames
{
    private readonly Queue<(TopicRing Ring, long Local)> _order = new();

    public long MaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>The bytes of every frame held.</summary>
    public long Bytes { get; private set; }

    /// <summary>How many frames are held.</summary>
    public long Count { get; private set; }

    /// <summary>A frame joined <paramref name="ring"/>: counted, and older frames of any topic dropped while over budget.</summary>
    public void Added(TopicRing ring, HubFrame frame)
    {
        Bytes += frame.Size;
        Count++;
        _order.Enqueue((ring, frame.Local));
        while (Bytes > MaxBytes && _order.TryPeek(out var oldest) && !(oldest.Ring == ring && oldest.Local == frame.Local))
        {
            _order.Dequeue();
            if (oldest.Ring.FrameAt(oldest.Local) is not null) oldest.Ring.DropThrough(oldest.Local);
        }
        // Frames that left their rings by count: the queue keeps at most about twice what is held.
        if (_order.Count > 2 * Count + 1024) Keep(static f => f.Ring.FrameAt(f.Local) is not null);
    }

    /// <summary>A frame left its ring (by count, by bytes, or its topic was forgotten).</summary>
    public void Forgotten(HubFrame frame)
    {
        Bytes -= frame.Size;
        Count--;
    }

    /// <summary>After topics were forgotten: nothing keeps their rings (O(held), rare).</summary>
    public void Compact()
    {
        Keep(static f => !f.Ring.Forgotten && f.Ring.FrameAt(f.Local) is not null);
        _order.TrimExcess();
    }

    /// <summary>Every ring was cleared (the backplane's sequence restarted).</summary>
    public void Clear() => _order.Clear();

    private void Keep(Func<(TopicRing Ring, long Local), bool> held)
    {
        var kept = _order.Where(held).ToList();
        _order.Clear();
        foreach (var f in kept) _order.Enqueue(f);
    }
}
