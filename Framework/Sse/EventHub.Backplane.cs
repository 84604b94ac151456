namespace Bocata;

/// <summary>The hub's side of a backplane: events arriving in the global order, history for resumption, a restarted sequence.</summary>
public sealed partial class EventHub
{
    /// <summary>Events this instance never held, from the backplane; one read serves every client asking for the same range (a reconnect storm).</summary>
    private Task<HubFrame[]> ReadHistoryAsync(long from, long to)
    {
        if (_historyReads.TryGetValue((from, to), out var pending)) return pending;
        var read = ReadAndEncodeAsync(from, to);
        _historyReads[(from, to)] = read;
        _ = read.ContinueWith(_ =>
        {
            lock (_gate) _historyReads.Remove((from, to));
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return read;
    }

    private async Task<HubFrame[]> ReadAndEncodeAsync(long from, long to)
    {
        var events = await _backplane!.ReadAsync(from, to);
        var frames = new HubFrame[events.Count];
        lock (_gate)
        {
            for (var i = 0; i < frames.Length; i++) frames[i] = Encode(events[i].Sequence, events[i].Event);
        }
        return frames;
    }

    /// <summary>Events arriving from the backplane, in the global order.</summary>
    private void Deliver(long seq, ServerEvent evt)
    {
        lock (_gate)
        {
            if (seq <= _head) return;
            // Numbers skipped for good (trimmed before they could be read, or undecodable): this instance's own frames start
            // after them, and live subscribers step over them.
            if (seq != _head + 1)
            {
                _localOldest = seq;
                var from = Math.Max(_head + 1, _retainedFrom);
                _gaps = [.. _gaps.Where(g => g.To >= seq - _ring.Length), (from, seq - 1)];
            }
            Append(seq, evt);
        }
        WakeAll();
    }

    /// <summary>The backplane's sequence restarted: end every open stream (ids must never go backwards on one) and start over after <paramref name="last"/>.</summary>
    private void Reset(long last)
    {
        HubSubscription?[] slots;
        lock (_gate)
        {
            slots = [.. _slots];
            Array.Clear(_ring);
            _ownIds.Clear();
            _evictedAt.Clear();
            _resumingFrom.Clear();
            _gaps = [];
            _ringBytes = 0;
            _retainedFrom = last + 1;
            Volatile.Write(ref _head, last);
            _localOldest = last + 1;
        }
        foreach (var subscription in slots) subscription?.Dispose();
    }

    private sealed class BackplaneSink(EventHub hub) : IEventBackplaneSink
    {
        public long LastSequence => hub.LastSequence;

        public long Capacity => hub._ring.Length;

        public void Deliver(long sequence, ServerEvent evt) => hub.Deliver(sequence, evt);

        public void Reset(long lastSequence) => hub.Reset(lastSequence);
    }
}
