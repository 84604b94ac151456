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

    /// <summary>The default topic's events in that range (the history of named topics is not read here).</summary>
    private async Task<HubFrame[]> ReadAndEncodeAsync(long from, long to)
    {
        var events = await _backplane!.ReadAsync(from, to);
        lock (_gate)
        {
            return [.. events.Where(e => e.Topic.Length == 0).Select(e => Encode(e.Sequence, e.Event))];
        }
    }

    /// <summary>Events arriving from the backplane, in the global order.</summary>
    private void Deliver(long seq, string topic, ServerEvent evt)
    {
        TopicRing ring;
        lock (_gate)
        {
            if (seq <= _head) return;
            // Numbers skipped for good (trimmed before they could be read, or undecodable) may have been the default
            // topic's: its frames on this instance are complete only after them.
            if (seq != _head + 1) _localOldest = seq;
            ring = topic.Length == 0 ? _default : Topic(topic);
            Append(ring, seq, evt);
        }
        ring.WakeAll();
    }

    /// <summary>The backplane's sequence restarted: end every open stream (ids must never go backwards on one) and start over after <paramref name="last"/>.</summary>
    private void Reset(long last)
    {
        var subscriptions = new List<HubSubscription?>();
        lock (_gate)
        {
            foreach (var ring in _topics.Values.Append(_default))
            {
                subscriptions.AddRange(ring.Subscribers());
                ring.Clear();
            }
            _publishOrder.Clear();
            _idempotency.Clear();
            _idempotencyOrder.Clear();
            Volatile.Write(ref _head, last);
            _localOldest = last + 1;
        }
        foreach (var subscription in subscriptions.Distinct()) subscription?.Dispose();
    }

    private sealed class BackplaneSink(EventHub hub) : IEventBackplaneSink
    {
        public long LastSequence => hub.LastSequence;

        public long Capacity => hub._default.MaxCapacity;

        public void Deliver(long sequence, ServerEvent evt) => hub.Deliver(sequence, "", evt);

        public void Deliver(long sequence, string topic, ServerEvent evt) => hub.Deliver(sequence, topic, evt);

        public void Reset(long lastSequence) => hub.Reset(lastSequence);
    }
}
