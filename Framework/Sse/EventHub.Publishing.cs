using System.Buffers;
using System.Globalization;

namespace Bocata;

/// <summary>Publishing: numbering, encoding once, appending to a topic's ring (in memory), or through the backplane. Under the hub's lock where it touches rings.</summary>
public sealed partial class EventHub
{
    // ---- Publishing -----------------------------------------------------------------------------------------------

    /// <summary>Sends <paramref name="evt"/> to every subscriber. An event without an id gets the next number of the hub's sequence. Never blocks on readers.</summary>
    /// <exception cref="InvalidOperationException">The hub was completed, or it is shared through a backplane (use <see cref="PublishAsync(ServerEvent, CancellationToken)"/>).</exception>
    public ServerEvent Publish(ServerEvent evt) => PublishLocal(_default, evt);

    /// <summary>Sends <paramref name="evt"/> to the subscribers of <paramref name="topic"/> only, numbered in the hub's one sequence.</summary>
    /// <exception cref="ArgumentException">The topic is empty, longer than 256 characters or has control characters.</exception>
    public ServerEvent Publish(string topic, ServerEvent evt)
    {
        CheckTopic(topic);
        return PublishLocal(null, evt, topic);
    }

    /// <summary>Numbers and appends <paramref name="evt"/> to <paramref name="ring"/> (or the ring of <paramref name="topic"/>); with
    /// <paramref name="expectedLastId"/> (a conditional publish), only while the topic's last event is that one, checked under
    /// the same lock.</summary>
    private ServerEvent PublishLocal(TopicRing? ring, ServerEvent evt, string? topic = null, long? expectedLastId = null)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (_backplane is not null)
            throw new InvalidOperationException("This EventHub is shared across instances through a backplane: publish with `await hub.PublishAsync(evt)`, which returns once every instance can see the event.");
        lock (_gate)
        {
            if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
            if (expectedLastId is { } expected && (_topics.TryGet(topic!, out var known) ? known.LastSeq : 0) is var last && last != expected)
                throw new PublishConflictException(topic!, expected, last);
            ring ??= Topic(topic!);
            evt = Append(ring, _head + 1, evt);
        }
        ring.WakeAll();
        return evt;
    }

    /// <summary>Publishes <paramref name="evt"/> and returns it with its id (the hub's number when it had none). The way to publish on every hub,
    /// including one shared across instances: then it completes once the backplane has numbered and retained the event, and fails
    /// (within the backplane's timeout) when it cannot.</summary>
    public Task<ServerEvent> PublishAsync(ServerEvent evt, CancellationToken ct = default) =>
        PublishAnyAsync("", evt, null, ct);

    /// <summary>Publishes <paramref name="evt"/> to <paramref name="topic"/> (see <see cref="PublishAsync(ServerEvent, CancellationToken)"/>).</summary>
    public Task<ServerEvent> PublishAsync(string topic, ServerEvent evt, CancellationToken ct = default)
    {
        CheckTopic(topic);
        return PublishAnyAsync(topic, evt, null, ct);
    }

    /// <summary>Publishes <paramref name="evt"/> at most once per <paramref name="idempotencyKey"/> (a key of yours, e.g. the id of the
    /// message or reading it carries): a publish whose key was already published returns the first event's id and sends nothing,
    /// so a publish that failed with a timeout — which may still have been applied — can be retried without a duplicate. Keys are
    /// remembered while their event is held (in memory) or for the backplane's idempotency window (RedisBackplane: 10 minutes).</summary>
    public Task<ServerEvent> PublishAsync(ServerEvent evt, string idempotencyKey, CancellationToken ct = default)
    {
        CheckIdempotencyKey(idempotencyKey);
        return PublishAnyAsync("", evt, idempotencyKey, ct);
    }

    /// <summary>Publishes <paramref name="evt"/> to <paramref name="topic"/> at most once per <paramref name="idempotencyKey"/>
    /// (see <see cref="PublishAsync(ServerEvent, string, CancellationToken)"/>).</summary>
    public Task<ServerEvent> PublishAsync(string topic, ServerEvent evt, string idempotencyKey, CancellationToken ct = default)
    {
        CheckTopic(topic);
        CheckIdempotencyKey(idempotencyKey);
        return PublishAnyAsync(topic, evt, idempotencyKey, ct);
    }

    /// <summary>Publishes <paramref name="evt"/> to <paramref name="topic"/> only if the topic's last event is still
    /// <paramref name="expectedLastId"/> — the id the caller read its state at (0: the topic has no event) — atomically, on one
    /// instance (in memory) or across instances (in the backplane's script): check-then-publish without a lock of your own.
    /// Otherwise nothing is published and <see cref="PublishConflictException"/> says the topic's last id now.</summary>
    /// <exception cref="PublishConflictException">Another event was published to the topic first.</exception>
    public async Task<ServerEvent> PublishAsync(string topic, ServerEvent evt, long expectedLastId, CancellationToken ct = default)
    {
        CheckTopic(topic);
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedLastId);
        if (_backplane is null) return PublishLocal(null, evt, topic, expectedLastId);
        if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
        return Numbered(evt, await _backplane.PublishAsync(topic, evt, expectedLastId, ct));
    }

    /// <summary>The event as a backplane published it: with the number it gave, unless the event carried its own id.</summary>
    private static ServerEvent Numbered(ServerEvent evt, long number) =>
        evt.Id is null ? evt.WithId(number.ToString(CultureInfo.InvariantCulture)) : evt;

    /// <summary>The id of <paramref name="topic"/>'s last event (0: none retained) — what a conditional publish compares with.</summary>
    public Task<long> LastIdAsync(string topic, CancellationToken ct = default)
    {
        CheckTopic(topic);
        if (_backplane is not null) return _backplane.ReadTopicLastAsync(topic, ct);
        lock (_gate) return Task.FromResult(_topics.TryGet(topic, out var ring) ? ring.LastSeq : 0);
    }

    private static void CheckIdempotencyKey(string idempotencyKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        if (idempotencyKey.Length > 256) throw new ArgumentException("An idempotency key has at most 256 characters; use a hash of a longer one.", nameof(idempotencyKey));
    }

    private async Task<ServerEvent> PublishAnyAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (_backplane is null)
        {
            if (idempotencyKey is null) return topic.Length == 0 ? Publish(evt) : Publish(topic, evt);
            TopicRing ring;
            ServerEvent published;
            lock (_gate)
            {
                if (_idempotency.Find(idempotencyKey) is { } frame) return frame.Event;
                if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
                ring = topic.Length == 0 ? _default : Topic(topic);
                published = Append(ring, _head + 1, evt);
                _idempotency.Add(idempotencyKey, ring, ring.Head, _held.Count);
            }
            ring.WakeAll();
            return published;
        }
        if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
        return Numbered(evt, await _backplane.PublishAsync(topic, evt, idempotencyKey, cancellationToken));
    }

    /// <summary>Numbers, encodes and stores one event as frame <paramref name="seq"/> of <paramref name="ring"/>. Under the lock; the caller wakes subscribers.</summary>
    private ServerEvent Append(TopicRing ring, long seq, ServerEvent evt)
    {
        var frame = Encode(seq, evt, out var numbered, local: ring.Head + 1);
        ring.Append(frame);
        _held.Added(ring, frame, _topics.Bytes);
        if (seq > _head) Volatile.Write(ref _head, seq);
        // A hub built after this one starts above what it gave (two in-memory hubs' numbers never overlap).
        if (_backplane is null) RunBase.Gave(seq);
        return numbered;
    }

    /// <summary>A frame left its ring: its bytes go. Under the lock.</summary>
    internal void FrameForgotten(TopicRing ring, HubFrame frame)
    {
        _held.Forgotten(frame);
        if (_backplane is null)
        {
            // A resume from before a dropped frame is told; so is one on a topic forgotten with its frames and named again.
            if (frame.Seq > ring.CompleteAfter) ring.CompleteAfter = frame.Seq;
            if (ring.Forgotten && frame.Seq > _forgottenThrough) _forgottenThrough = frame.Seq;
        }
        else if (ring == _default && _localOldest <= frame.Seq)
        {
            // On a shared hub the default topic is complete only after what it dropped (older comes from the history).
            _localOldest = frame.Seq + 1;
        }
    }

    /// <summary>Encoded once here; every subscriber writes these same bytes. An event without an id gets the hub's number <paramref name="seq"/>; a publisher's own id is kept and marked as such.</summary>
    private HubFrame Encode(long seq, ServerEvent evt) => Encode(seq, evt, out _);

    // local: the topic's count of the frame (0 for events read from a backplane's history). Set here, not by a `with`
    // afterwards: that would copy the frame on every publish.
    private HubFrame Encode(long seq, ServerEvent evt, out ServerEvent numbered, long local = 0)
    {
        var ownId = evt.Id is not null;
        numbered = ownId ? evt : evt.WithId(seq.ToString(CultureInfo.InvariantCulture));
        _encoder.ResetWrittenCount();
        numbered.WriteTo(_encoder);
        var frame = new HubFrame(seq, evt, _encoder.WrittenSpan.ToArray(), ownId) { Local = local };
        // Clear() would keep a huge buffer's capacity: after a large event, let it go.
        if (_encoder.Capacity > 64 * 1024) _encoder = new ArrayBufferWriter<byte>(256);
        return frame;
    }
}
