namespace Bocata;

/// <summary>The hub's side of a backplane: events arriving in the global order, history for resumption, a restarted sequence.</summary>
public sealed partial class EventHub
{
    /// <summary>Events this instance never held, up to <paramref name="to"/> (the number before its oldest frame), from the
    /// backplane: the replay window's worth before it, read once and kept for <see cref="TopicHistoryReuse"/> after it
    /// completed (events up to <paramref name="to"/> no longer change). Every client resuming meanwhile takes what follows its
    /// own id (it skips up to <c>HistoryAfter</c>), so a reconnect storm spread over seconds, each client with its own id and
    /// the feed going on, costs one read, not one per client. Under the lock.</summary>
    private Task<HubFrame[]> ReadHistoryAsync(long to)
    {
        if (_historyReads.TryGetValue(to, out var pending)) return pending;
        var read = ReadAndEncodeAsync(Math.Max(1, to - _replay + 1), to);
        _historyReads[to] = read;
        _ = read.ContinueWith(async done =>
        {
            if (done.IsCompletedSuccessfully) await Task.Delay(TopicHistoryReuse);
            lock (_gate) _historyReads.Remove(to);
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

    /// <summary>How long a history read stays shared after it completed (a reconnect storm spread over seconds).</summary>
    private static readonly TimeSpan TopicHistoryReuse = TimeSpan.FromSeconds(5);

    /// <summary>A named topic's newest retained events up to <paramref name="to"/> (as many as a ring holds), from the backplane:
    /// one read serves every client resuming that topic on this instance (a reconnect storm after another instance died costs a
    /// read per topic); each client takes what follows its own id. Under the lock.</summary>
    private Task<TopicHistory> ReadTopicHistoryAsync(string topic, long to)
    {
        if (_topicHistoryReads.TryGetValue((topic, to), out var pending)) return pending;
        var read = ReadAndEncodeAsync(topic, to, ResumeReadCount);
        _topicHistoryReads[(topic, to)] = read;
        // Events up to `to` no longer change: a successful read serves clients that come a little later too.
        _ = read.ContinueWith(async done =>
        {
            if (done.IsCompletedSuccessfully) await Task.Delay(TopicHistoryReuse);
            lock (_gate) _topicHistoryReads.Remove((topic, to));
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return read;
    }

    /// <summary>How many of a topic's newest events a resume reads from the backplane: as many as a ring holds.</summary>
    private int ResumeReadCount => (int)Math.Min(int.MaxValue, _default.MaxCapacity);

    private async Task<TopicHistory> ReadAndEncodeAsync(string topic, long to, int count)
    {
        // The topic's low-water mark beside: what was trimmed or expired, and nothing from before the store's current epoch
        // (a Redis that restarted or lost its data), however contiguous the entries that remain look.
        var read = _backplane!.ReadTopicAsync(topic, to, count);
        var lowWater = _backplane.ReadTopicLowWaterAsync(topic);
        var events = await read;
        var low = await lowWater;
        if (events.Count == 0) return new TopicHistory([], low, false);
        // A stored event names its topic's previous one: where that is not the entry before it, a range is missing.
        for (var i = 1; i < events.Count; i++)
            if (events[i].Previous > events[i - 1].Sequence) low = Math.Max(low, events[i].Previous);
        lock (_gate)
        {
            var frames = events.Where(e => e.Topic == topic).Select(e => Encode(e.Sequence, e.Event)).ToArray();
            return new TopicHistory(frames, events[0].Previous, events.Count >= count) { LowWater = low };
        }
    }

    /// <summary>Events arriving from a backplane that listens by topic: each topic's in its own order, with the number of the
    /// topic's event before it; a topic this instance does not listen to is not kept.</summary>
    private void Deliver(long seq, long previous, string topic, ServerEvent evt)
    {
        TopicRing? ring;
        List<HubSubscription>? acrossHole = null;
        lock (_gate)
        {
            if (topic.Length == 0) ring = _default;
            else if (!_listensByTopic) ring = Topic(topic);
            else if (!_topics.TryGet(topic, out ring) || !ring.Listening)
            {
                // Not kept, but heard: a topic listened to from now on (Listen(topic, _head)) is complete only after it, so a
                // backplane that delivers every topic in order (SqliteBackplane) can say its events already reach this instance.
                if (seq > _head) Volatile.Write(ref _head, seq);
                if (seq > _orderedHead) Volatile.Write(ref _orderedHead, seq);
                return;
            }
            var last = ring == _default ? Math.Max(ring.LastSeq, _localOldest - 1) : ring.LastSeq;
            if (seq <= last) return;
            if (ring == _default)
            {
                // Events numbered up to previous never reached this instance (the backplane could not read them: trimmed, or
                // lost with Redis's data): a resume from before comes from the history, and every open stream, which would
                // read across them, ends (its client resumes and is told).
                if (previous > last)
                {
                    _localOldest = Math.Max(_localOldest, previous + 1);
                    foreach (var subscription in ring.Subscribers())
                        if (subscription is not null && subscription.ReadsAcross(previous)) (acrossHole ??= []).Add(subscription);
                }
            }
            else
            {
                acrossHole = Hole(ring, last, previous);
            }
            if (ring != _default) ring.LastActive = Environment.TickCount64;
            Append(ring, seq, evt);
            if (ring != _default && seq > _orderedHead) Volatile.Write(ref _orderedHead, seq);
        }
        foreach (var subscription in acrossHole ?? []) subscription.Dispose();
        ring.WakeAll();
    }

    /// <summary>A hole: the topic's events up to <paramref name="previous"/> never reached this instance (after
    /// <paramref name="last"/>, what it has). The ring is complete only after it, and every stream that started before it ends:
    /// its client resumes, from the history or with a `resync` notice. Returns those streams, to end outside the lock. Under the lock.</summary>
    private static List<HubSubscription>? Hole(TopicRing ring, long last, long previous)
    {
        if (previous <= Math.Max(last, ring.CompleteAfter)) return null;
        ring.CompleteAfter = previous;
        List<HubSubscription>? acrossHole = null;
        foreach (var subscription in ring.Subscribers())
            if (subscription is not null && subscription.ReadsAcross(previous)) (acrossHole ??= []).Add(subscription);
        return acrossHole;
    }

    private void TopicHole(string topic, long through)
    {
        List<HubSubscription>? acrossHole;
        lock (_gate)
        {
            if (!_topics.TryGet(topic, out var ring) || !ring.Listening) return;
            acrossHole = Hole(ring, ring.LastSeq, through);
        }
        foreach (var subscription in acrossHole ?? []) subscription.Dispose();
    }

    private long TopicLast(string topic)
    {
        lock (_gate)
        {
            if (topic.Length == 0) return Math.Max(_default.LastSeq, _localOldest - 1);
            return _topics.TryGet(topic, out var ring) ? Math.Max(ring.LastSeq, ring.CompleteAfter) : 0;
        }
    }

    private void TopicReady(string topic, long through)
    {
        TopicRing? ring;
        lock (_gate)
        {
            if (through > _orderedHead) Volatile.Write(ref _orderedHead, through);
            if (!_topics.TryGet(topic, out ring) || !ring.Listening || ring.Ready) return;
            ring.ReadyAt = through;
            ring.Ready = true;
            // Its subscribers are live from here: presence counts them now.
            if (ring.SubscriberCount > 0) _backplane?.SubscribersChanged(topic, ring.SubscriberCount);
        }
        ring.WakeAll();
    }

    private void Hold()
    {
        lock (_gate)
        {
            foreach (var ring in _topics.Rings)
                if (ring.Listening) ring.Ready = false;
        }
    }

    private bool Holds(string topic)
    {
        lock (_gate) return _topics.TryGet(topic, out var ring) && ring.LastSeq > 0;
    }

    private bool StopListening(string topic)
    {
        lock (_gate)
        {
            if (!_topics.TryGet(topic, out var ring)) return true;
            if (ring.SubscriberCount > 0) return false;
            ring.Listening = false;
            ring.Ready = false;
            LetGo(ring, Environment.TickCount64);
            return true;
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
            foreach (var ring in _topics.Rings.Append(_default))
            {
                subscriptions.AddRange(ring.Subscribers());
                ring.Clear();
                ring.LastSeq = Math.Min(ring.LastSeq, last);
                ring.CompleteAfter = last;
            }
            Volatile.Write(ref _orderedHead, last);
            _held.Clear();
            _idempotency.Clear();
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

        public void Deliver(long sequence, long previous, string topic, ServerEvent evt) => hub.Deliver(sequence, previous, topic, evt);

        public long TopicLast(string topic) => hub.TopicLast(topic);

        public void TopicHole(string topic, long through) => hub.TopicHole(topic, through);

        public void TopicReady(string topic, long through) => hub.TopicReady(topic, through);

        public void Hold() => hub.Hold();

        public bool StopListening(string topic) => hub.StopListening(topic);

        public bool Holds(string topic) => hub.Holds(topic);

        public void Reset(long lastSequence) => hub.Reset(lastSequence);

        public void Disconnect(string user) => hub.DisconnectHere(user);
    }
}
