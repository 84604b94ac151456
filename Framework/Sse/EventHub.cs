using System.Buffers;
using System.Globalization;

namespace Bocata;

/// <summary>Broadcasts events to many subscribers, numbers them, and replays what a reconnecting client missed (<c>Last-Event-ID</c>).
/// One hub carries many topics (per-user and per-room feeds): one sequence numbers every topic's events, and one stream may
/// read several topics.</summary>
/// <remarks>Each event is encoded once into its topic's ring of frames; a subscriber is a cursor into that ring (one per topic
/// it reads), not a queue of copies. A subscriber that falls more than <c>bufferSize</c> events behind on a topic (or whose
/// connection stops taking data) is disconnected while everything it missed is still held: its stream ends, the browser
/// reconnects with <c>Last-Event-ID</c> and resumes exactly where it stopped, so publishing never waits on a slow reader and
/// an eviction never loses an event.</remarks>
public sealed partial class EventHub
{
    private readonly Lock _gate = new();
    private readonly int _replay;
    private readonly int _bufferSize;
    private readonly TopicRing _default;
    private readonly Dictionary<string, TopicRing> _topics = new(StringComparer.Ordinal);
    // Held frames in publishing order, for MaxBytes (the oldest go first, across topics); compacted as frames leave. Entries
    // name frames without holding them, so a frame that left its ring is collected at once.
    private readonly Queue<(TopicRing Ring, long Local)> _publishOrder = new();
    // Topics without subscribers, oldest activity first: the retention sweep looks only at the front.
    private readonly Queue<(TopicRing Ring, long Since)> _idle = new();
    private readonly Dictionary<string, (TopicRing Ring, long Local)> _idempotency = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, TopicRing Ring, long Local)> _idempotencyOrder = new();
    private ArrayBufferWriter<byte> _encoder = new(256);
    private int _count;
    private readonly IEventBackplane? _backplane;
    private readonly Dictionary<(long, long), Task<HubFrame[]>> _historyReads = [];
    private readonly Dictionary<(string, long), Task<TopicHistory>> _topicHistoryReads = [];
    private long _head;
    // On a backplane that listens by topic: the number up to which every listened topic's events are in their rings (what
    // multi-topic streams may take); without one, the head.
    private long _orderedHead;
    private readonly bool _listensByTopic;
    // On a shared hub: the hub number from which the default topic's ring is complete on this instance; older events of it
    // come from the backplane's history.
    private long _localOldest = 1;
    private long _heldBytes;
    private long _heldFrames;
    private long _evictions;
    private long _nextSweep;
    private volatile bool _completed;

    /// <summary>Creates a hub keeping the last <paramref name="replay"/> events of each topic for resumption and letting a subscriber
    /// fall at most <paramref name="bufferSize"/> events behind on a topic. With a <paramref name="backplane"/> (e.g.
    /// <c>RedisBackplane</c>), every instance on it is one hub: publish with <see cref="PublishAsync(ServerEvent, CancellationToken)"/>.</summary>
    public EventHub(int replay = 1000, int bufferSize = 1024, IEventBackplane? backplane = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(replay);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _replay = replay;
        _bufferSize = bufferSize;
        // Each topic holds its newest max(replay, bufferSize) + 1 frames (a subscriber is evicted at bufferSize behind, while
        // its next frame is still held), and room for as many again, used only for frames an evicted or resuming subscriber
        // still needs: it resumes exactly if it comes back within max(replay, bufferSize) more events of the topic.
        _default = new TopicRing(this, "", remote: backplane is not null);
        if (backplane is not null)
        {
            _backplane = backplane;
            // Under the lock: the backplane may deliver as soon as it is attached, and those events wait for the head it returns.
            lock (_gate)
            {
                _head = backplane.Attach(new BackplaneSink(this));
                _orderedHead = _head;
                _localOldest = _head + 1;
                _listensByTopic = backplane.ListensByTopic;
            }
        }
    }

    /// <summary>At most this many bytes of events are kept, across topics, for replay and slow readers (default 64 MB); past it the oldest go first.</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>At most this many bytes of events are sent to one resuming client before its stream ends (default 4 MB); it
    /// reconnects with the last id it got and continues exactly, so one small request can never pull the whole window at once.</summary>
    public long MaxReplayBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>A topic with neither a subscriber nor a publish for this long is forgotten, with its retained events (default 10 minutes).</summary>
    public TimeSpan TopicRetention { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A new subscriber (one without <c>Last-Event-ID</c>) first gets the last this many events of each of its topics,
    /// merged in number order, then live ones: the recent history a page shows as it opens (default 0: live only).</summary>
    public int ReplayOnConnect
    {
        get => _replayOnConnect;
        init => _replayOnConnect = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(ReplayOnConnect), value, "ReplayOnConnect is a number of events: 0 or more.");
    }

    private readonly int _replayOnConnect;

    /// <summary>At most this many topics on one subscription (default 64); more is a 400.</summary>
    public int MaxTopicsPerSubscription { get; init; } = 64;

    /// <summary>Asked for every topic of <see cref="Subscribe(Request, string[])"/> before the stream starts; a refusal is a 403 naming the topic.</summary>
    public Func<Request, string, bool>? Authorize { get; init; }

    /// <summary>As <see cref="Authorize"/>, for checks that await (a database, a remote service).</summary>
    public Func<Request, string, ValueTask<bool>>? AuthorizeAsync { get; init; }

    /// <summary>The number of live subscriptions (a stream of several topics counts once).</summary>
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <summary>How many subscribers were disconnected because they could not keep up.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>The sequence number of the last published event, on any topic (0 before the first).</summary>
    public long LastSequence => Volatile.Read(ref _head);

    /// <summary>The number of named topics this hub holds (those with subscribers or retained events, not yet forgotten).</summary>
    public int TopicCount
    {
        get
        {
            lock (_gate)
            {
                Sweep(Environment.TickCount64, force: true);
                return _topics.Count;
            }
        }
    }

    internal bool IsCompleted => _completed;

    /// <summary>A multi-topic stream takes frames numbered up to this only: every frame up to it is already in its ring.</summary>
    internal long OrderedHead => _listensByTopic ? Volatile.Read(ref _orderedHead) : Volatile.Read(ref _head);

    /// <summary>How far behind a live subscriber may fall on a topic before it is evicted.</summary>
    internal int BufferSize => _bufferSize;

    internal int Replay => _replay;

    /// <summary>What the held frames cost (what <see cref="MaxBytes"/> bounds).</summary>
    internal long RetainedBytes
    {
        get
        {
            lock (_gate) return _heldBytes;
        }
    }

    /// <summary>The default topic's frame with the hub's number <paramref name="seq"/>, if held.</summary>
    internal HubFrame? FrameAt(long seq)
    {
        lock (_gate) return _default.FrameNumbered(seq);
    }

    /// <summary>The subscribers of <paramref name="topic"/> on this instance.</summary>
    public int CountSubscribers(string topic)
    {
        CheckTopic(topic);
        lock (_gate) return _topics.TryGetValue(topic, out var ring) ? ring.SubscriberCount : 0;
    }

    /// <summary>The subscribers of <paramref name="topic"/> on every instance (presence). Without a backplane, this instance's.</summary>
    public Task<long> CountSubscribersAsync(string topic)
    {
        CheckTopic(topic);
        return _backplane is null ? Task.FromResult((long)CountSubscribers(topic)) : _backplane.CountSubscribersAsync(topic, CountSubscribers(topic));
    }

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

    private ServerEvent PublishLocal(TopicRing? ring, ServerEvent evt, string? topic = null)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (_backplane is not null)
            throw new InvalidOperationException("This EventHub is shared across instances through a backplane: publish with `await hub.PublishAsync(evt)`, which returns once every instance can see the event.");
        lock (_gate)
        {
            if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
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
                if (_idempotency.TryGetValue(idempotencyKey, out var first) && first.Ring.FrameAt(first.Local) is { } frame) return frame.Event;
                if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
                ring = topic.Length == 0 ? _default : Topic(topic);
                published = Append(ring, _head + 1, evt);
                _idempotency[idempotencyKey] = (ring, ring.Head);
                _idempotencyOrder.Enqueue((idempotencyKey, ring, ring.Head));
                // Keys are kept while their event is held.
                while (_idempotencyOrder.TryPeek(out var oldest) && (oldest.Ring.FrameAt(oldest.Local) is null || _idempotencyOrder.Count > 4 * Math.Max(_heldFrames, 256)))
                {
                    _idempotencyOrder.Dequeue();
                    if (_idempotency.TryGetValue(oldest.Key, out var at) && at == (oldest.Ring, oldest.Local)) _idempotency.Remove(oldest.Key);
                }
            }
            ring.WakeAll();
            return published;
        }
        if (_completed) throw new InvalidOperationException("This EventHub was completed; create a new one to publish again.");
        var number = await _backplane.PublishAsync(topic, evt, idempotencyKey, cancellationToken);
        return evt.Id is null ? evt.WithId(number.ToString(CultureInfo.InvariantCulture)) : evt;
    }

    /// <summary>The ring of <paramref name="topic"/>, created on first use. Under the lock.</summary>
    private TopicRing Topic(string topic)
    {
        if (topic.Length == 0) return _default;
        var now = Environment.TickCount64;
        Sweep(now, force: false);
        if (!_topics.TryGetValue(topic, out var ring))
        {
            ring = new TopicRing(this, topic, remote: _backplane is not null);
            _topics[topic] = ring;
        }
        ring.LastActive = now;
        QueueIdle(ring, now);
        return ring;
    }

    /// <summary>Numbers, encodes and stores one event as frame <paramref name="seq"/> of <paramref name="ring"/>. Under the lock; the caller wakes subscribers.</summary>
    private ServerEvent Append(TopicRing ring, long seq, ServerEvent evt)
    {
        var frame = Encode(seq, evt, out var numbered, local: ring.Head + 1);
        ring.Append(frame);
        _heldBytes += frame.Size;
        _heldFrames++;
        _publishOrder.Enqueue((ring, frame.Local));
        if (seq > _head) Volatile.Write(ref _head, seq);
        // Bounded by bytes as well as by count, across topics: the oldest frames go first, the newest always stays.
        while (_heldBytes > MaxBytes && _publishOrder.TryPeek(out var oldest) && !(oldest.Ring == ring && oldest.Local == frame.Local))
        {
            _publishOrder.Dequeue();
            if (oldest.Ring.FrameAt(oldest.Local) is not null) oldest.Ring.DropThrough(oldest.Local);
        }
        // Frames that left their rings by count: the queue keeps at most about twice what is held.
        if (_publishOrder.Count > 2 * _heldFrames + 1024)
        {
            var held = _publishOrder.Where(f => f.Ring.FrameAt(f.Local) is not null).ToList();
            _publishOrder.Clear();
            foreach (var f in held) _publishOrder.Enqueue(f);
        }
        return numbered;
    }

    /// <summary>A frame left its ring: its bytes go. Under the lock.</summary>
    internal void FrameForgotten(TopicRing ring, HubFrame frame)
    {
        _heldBytes -= frame.Size;
        _heldFrames--;
        // On a shared hub the default topic is complete only after what it dropped (older comes from the history).
        if (_backplane is not null && ring == _default && _localOldest <= frame.Seq) _localOldest = frame.Seq + 1;
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

    /// <summary>Forgets topics idle for <see cref="TopicRetention"/>. The idle queue is in the order topics were queued; only
    /// fronts queued longer than the retention ago are looked at — forgotten, dropped (a subscriber came back), or sent to the
    /// back when active again since — so it costs nothing when nothing expires. Runs on publish and subscribe (at most every
    /// 1/8 of the retention) and on <see cref="TopicCount"/>.</summary>
    private void Sweep(long now, bool force)
    {
        if (!force && now < _nextSweep) return;
        var retention = (long)TopicRetention.TotalMilliseconds;
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
                _topics.Remove(ring.Name);
                ring.Clear();
                forgotten++;
            }
        }
        if (forgotten > 0) Compact();
    }

    /// <summary>Queues a topic that has no subscribers, once, for the retention sweep. Under the lock.</summary>
    private void QueueIdle(TopicRing ring, long now)
    {
        if (ring == _default || ring.SubscriberCount > 0 || ring.QueuedIdle || ring.Forgotten) return;
        ring.QueuedIdle = true;
        _idle.Enqueue((ring, now));
    }

    /// <summary>After topics were forgotten: nothing keeps their rings, and the hub's tables shrink with them (O(held), rare).</summary>
    private void Compact()
    {
        var held = _publishOrder.Where(f => !f.Ring.Forgotten && f.Ring.FrameAt(f.Local) is not null).ToList();
        _publishOrder.Clear();
        foreach (var f in held) _publishOrder.Enqueue(f);
        _publishOrder.TrimExcess();
        var keys = _idempotencyOrder.Where(k => !k.Ring.Forgotten).ToList();
        _idempotencyOrder.Clear();
        foreach (var k in keys) _idempotencyOrder.Enqueue(k);
        foreach (var key in _idempotency.Where(e => e.Value.Ring.Forgotten).Select(e => e.Key).ToList()) _idempotency.Remove(key);
        _idle.TrimExcess();
        _topics.TrimExcess();
    }

    /// <summary>A topic is a non-empty string of at most 256 characters with no control characters.</summary>
    internal static string? TopicProblem(string? topic) => topic switch
    {
        null => "a topic is required",
        { Length: 0 } => "a topic cannot be empty",
        { Length: > 256 } => $"a topic has at most 256 characters (this one has {topic.Length})",
        _ when topic.Any(char.IsControl) => "a topic cannot contain control characters",
        _ => null,
    };

    private static void CheckTopic(string topic)
    {
        if (TopicProblem(topic) is { } problem) throw new ArgumentException($"Invalid topic: {problem}.", nameof(topic));
    }

    // ---- Subscribing ----------------------------------------------------------------------------------------------

    /// <summary>Subscribes for the request: replays what its <c>Last-Event-ID</c> (or, without that header, its <c>lastEventId</c>
    /// query parameter, for an <c>EventSource</c> the page had to re-create) missed, then streams live events until the client leaves.</summary>
    /// <remarks>The subscription belongs to the request: it is removed when the request ends, even if it was never read (HEAD, an exception, a replaced body).</remarks>
    public IAsyncEnumerable<ServerEvent> Subscribe(Request req)
    {
        ArgumentNullException.ThrowIfNull(req);
        return OwnedBy(req, Add([_default], ResumeId(req), default));
    }

    /// <summary>Where a request resumes: its <c>Last-Event-ID</c>, or the <c>lastEventId</c> query parameter of an
    /// <c>EventSource</c> the page had to re-create.</summary>
    private static string? ResumeId(Request req) => req.LastEventId ?? req.QueryParams["lastEventId"];

    /// <summary>The subscription belongs to the request: it ends when the client leaves, the server stops, or the request ends.</summary>
    private static HubSubscription OwnedBy(Request req, HubSubscription subscription)
    {
        subscription.WatchRequest(req.Context);
        req.Context.DisposeAtEnd(subscription);
        return subscription;
    }

    /// <summary>One stream of several topics for the request: for each topic, what its <c>Last-Event-ID</c> missed, merged in
    /// number order, then live events. Each topic is checked (400 for a bad one or too many) and, with
    /// <see cref="Authorize"/>/<see cref="AuthorizeAsync"/>, authorized (403 naming a refused one) before any header is sent.</summary>
    public IAsyncEnumerable<ServerEvent> Subscribe(Request req, params string[] topics)
    {
        ArgumentNullException.ThrowIfNull(req);
        ArgumentNullException.ThrowIfNull(topics);
        if (topics.Length == 0) return Subscribe(req);
        var names = topics.Distinct(StringComparer.Ordinal).ToArray();
        if (names.Length > MaxTopicsPerSubscription)
            throw new HttpError(400, $"At most {MaxTopicsPerSubscription} topics per stream; {names.Length} were asked for.");
        foreach (var topic in names)
            if (TopicProblem(topic) is { } problem) throw new HttpError(400, $"Invalid topic '{Printable(topic)}': {problem}.");
        if (Authorize is { } authorize)
            foreach (var topic in names)
                if (!authorize(req, topic)) throw new HttpError(403, $"Not allowed to read topic '{topic}'.");
        HubSubscription subscription;
        if (AuthorizeAsync is { } authorizeAsync)
        {
            // Checked before the stream's headers (or its first event, when enumerated): a refusal is a 403 naming the topic.
            subscription = HubSubscription.Deferred(this, names, ResumeId(req), async () =>
            {
                foreach (var topic in names)
                    if (!await authorizeAsync(req, topic)) throw new HttpError(403, $"Not allowed to read topic '{topic}'.");
            });
        }
        else
        {
            subscription = Add(Rings(names), ResumeId(req), default);
        }
        return OwnedBy(req, subscription);
    }

    /// <summary>Subscribes now: events after <paramref name="lastEventId"/> still in the replay window come first (all of it when the id is unknown or older), then live events.</summary>
    public IAsyncEnumerable<ServerEvent> Subscribe(string? lastEventId = null, CancellationToken ct = default) =>
        Add([_default], lastEventId, ct);

    /// <summary>Subscribes now to several topics: for each, the retained events after <paramref name="lastEventId"/> merged in
    /// number order, then live events.</summary>
    /// <exception cref="ArgumentException">A topic is invalid, or there are none or more than <see cref="MaxTopicsPerSubscription"/>.</exception>
    public IAsyncEnumerable<ServerEvent> Subscribe(string[] topics, string? lastEventId = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(topics);
        var names = topics.Distinct(StringComparer.Ordinal).ToArray();
        if (names.Length == 0) throw new ArgumentException("Name at least one topic, or call Subscribe(lastEventId) for the default topic.", nameof(topics));
        if (names.Length > MaxTopicsPerSubscription) throw new ArgumentException($"At most {MaxTopicsPerSubscription} topics per subscription (MaxTopicsPerSubscription); {names.Length} were given.", nameof(topics));
        foreach (var topic in names) CheckTopic(topic);
        return Add(Rings(names), lastEventId, ct);
    }

    internal TopicRing[] Rings(string[] names)
    {
        lock (_gate) return [.. names.Select(Topic)];
    }

    private static string Printable(string topic) =>
        new([.. topic.Take(64).Select(c => char.IsControl(c) ? '?' : c)]);

    /// <summary>Ends every subscription (their streams finish after what was already published) and refuses further publishing.</summary>
    public void Complete()
    {
        TopicRing[] rings;
        lock (_gate)
        {
            _completed = true;
            rings = [_default, .. _topics.Values];
        }
        foreach (var ring in rings) ring.WakeAll();
    }

    /// <summary>Registers a subscription on <paramref name="rings"/> at once, at fixed cursors, so nothing published between the
    /// handler and the first write is lost. Events older than this instance's ring come from the backplane's history first.</summary>
    internal HubSubscription Add(TopicRing[] rings, string? lastEventId, CancellationToken cancellationToken)
    {
        var subscription = new HubSubscription(this);
        Register(subscription, rings, lastEventId);
        subscription.Watch(cancellationToken);
        return subscription;
    }

    /// <summary>Sets where <paramref name="subscription"/> starts on each topic and registers it there, under the lock.</summary>
    internal void Register(HubSubscription subscription, TopicRing[] rings, string? lastEventId)
    {
        lock (_gate)
        {
            // A topic forgotten since its ring was looked up (a deferred subscription): its fresh ring.
            for (var i = 0; i < rings.Length; i++)
                if (rings[i].Forgotten) rings[i] = Topic(rings[i].Name);
            if (_listensByTopic && !_completed && !subscription.IsDisposed)
                foreach (var ring in rings) Listen(ring);
            // Named topics on a backplane that listens by topic resume from each topic's history, not from this instance's head.
            var across = _listensByTopic && rings[0] != _default && lastEventId is not null;
            var start = across ? new StartAt(new long[rings.Length]) : Start(rings, lastEventId);
            var resume = across ? ResumeAcross(rings, start.Cursors, lastEventId!) : default;
            var cursors = new HubSubscription.TopicCursor[rings.Length];
            for (var i = 0; i < rings.Length; i++)
            {
                var ring = rings[i];
                var cursor = start.Cursors[i];
                // A resume keeps what it is about to read until it has caught up, so publishing meanwhile cannot drop it.
                var anchor = cursor < ring.Head && ring.Protect(cursor) ? Math.Max(0, cursor) : -1;
                cursors[i] = new HubSubscription.TopicCursor(ring, cursor, ring.Head, anchor);
            }
            // Where the stream starts in the hub's numbers, for frames a backplane delivers late (topics it starts listening to).
            // A live stream on a topic the backplane is only starting to listen to starts once it listens (its headers wait).
            var onConnect = lastEventId is null && _replayOnConnect > 0;
            var startsAfter = across ? resume.StartsAfter : _listensByTopic && rings[0] != _default && !onConnect ? _head : 0;
            var startsWhenReady = lastEventId is null && !onConnect && rings.Any(r => !r.Ready);
            if (start.FromHistory)
                subscription.Initialize(cursors, _head, ReadHistoryAsync(start.HistoryAfter + 1, _localOldest - 1), start.ResolveId, start.HistoryAfter);
            else if (resume.Plan is { } plan)
            {
                subscription.Initialize(cursors, _head, startsAfter: startsAfter);
                subscription.InitializeResume(plan, lastEventId!);
            }
            else
                subscription.Initialize(cursors, _head, startsAfter: startsAfter, startsWhenReady: startsWhenReady);
            if (_completed || subscription.IsDisposed) return;
            var now = Environment.TickCount64;
            for (var i = 0; i < cursors.Length; i++)
            {
                cursors[i].Slot = cursors[i].Ring.Add(subscription);
                cursors[i].Ring.LastActive = now;
                // Present from when it is live: a topic still being listened to counts its subscribers once it is ready.
                if (cursors[i].Ring != _default && cursors[i].Ring.Ready) _backplane?.SubscribersChanged(cursors[i].Ring.Name, cursors[i].Ring.SubscriberCount);
            }
            _count++;
            Telemetry.HubSubscribers.Add(1);
        }
    }

    /// <summary>On a backplane that listens by topic: asks for <paramref name="ring"/>'s events if this instance does not listen
    /// to it yet; its streams wait until they are all here. Under the lock.</summary>
    private void Listen(TopicRing ring)
    {
        if (ring == _default || ring.Listening) return;
        ring.Listening = true;
        var after = _head;
        ring.Ready = _backplane!.Listen(ring.Name, after);
        // What it held from an earlier time it listened (or nothing) is complete only from here on.
        if (!ring.Ready || ring.Head == 0) ring.CompleteAfter = Math.Max(ring.CompleteAfter, after);
    }

    /// <summary>Leaves every topic of the subscription. O(topics).</summary>
    internal void Remove(HubSubscription subscription)
    {
        lock (_gate)
        {
            var removed = false;
            var now = Environment.TickCount64;
            foreach (ref var c in subscription.Cursors.AsSpan())
            {
                if (c.Slot < 0) continue;
                c.Ring.Remove(subscription, c.Slot);
                c.Slot = -1;
                removed = true;
                c.Ring.LastActive = now;
                if (c.Ring != _default) _backplane?.SubscribersChanged(c.Ring.Name, c.Ring.SubscriberCount);
                QueueIdle(c.Ring, now);
            }
            if (!removed) return;
            _count--;
            Telemetry.HubSubscribers.Add(-1);
        }
    }

    /// <summary>Counts an eviction and remembers where the subscriber stopped on each topic, so its resume is served exactly.</summary>
    internal void CountEviction(HubSubscription subscription)
    {
        Interlocked.Increment(ref _evictions);
        Telemetry.HubEvictions.Add(1);
        // Its stream ends after what it was already given (nothing in flight is cut), so its resume starts at the cursors.
        lock (_gate)
        {
            var cursors = subscription.Cursors;
            for (var i = 0; i < cursors.Length; i++) cursors[i].Ring.Evicted(Volatile.Read(ref cursors[i].Cursor));
        }
    }

    /// <summary>A resume that caught up (or ended) lets go of the backlog it protected.</summary>
    internal void Release(TopicRing ring, long local)
    {
        lock (_gate) ring.Release(local);
    }

    /// <summary>Where a subscription starts: after each topic's <see cref="Cursors"/>; with <see cref="FromHistory"/> (the default
    /// topic on a shared hub), the backplane's history from <c>HistoryAfter + 1</c> to this instance's oldest frame comes first,
    /// and <see cref="ResolveId"/> (when set) is looked up in it.</summary>
    private readonly record struct StartAt(long[] Cursors, bool FromHistory = false, long HistoryAfter = 0, string? ResolveId = null);

    /// <summary>Where a subscriber with <paramref name="lastEventId"/> starts on each topic. Ids that cannot be this hub's (negative,
    /// malformed, far beyond the head) start live; an unknown or too old one gets each topic's window.</summary>
    private StartAt Start(TopicRing[] rings, string? lastEventId)
    {
        var cursors = new long[rings.Length];
        long ResumeAfter(long number)
        {
            for (var i = 0; i < rings.Length; i++)
                cursors[i] = Math.Max(rings[i].LastAtOrBefore(number), rings[i].WindowOldest(_replay) - 1);
            return 0;
        }
        void Window()
        {
            for (var i = 0; i < rings.Length; i++) cursors[i] = rings[i].WindowOldest(_replay) - 1;
        }
        void Live()
        {
            for (var i = 0; i < rings.Length; i++) cursors[i] = rings[i].Head;
        }

        if (lastEventId is null)
        {
            // The last ReplayOnConnect events of each topic (within what it retains), else live.
            for (var i = 0; i < rings.Length; i++)
                cursors[i] = _replayOnConnect == 0 ? rings[i].Head : Math.Max(rings[i].Head - _replayOnConnect, rings[i].WindowOldest(_replay) - 1);
            return new(cursors);
        }
        // A publisher's own id: the newest held event carrying it, in the stream's topics and their windows.
        var own = 0L;
        foreach (var ring in rings)
        {
            var local = ring.OwnId(lastEventId);
            if (local >= ring.WindowOldest(_replay) && ring.FrameAt(local) is { } f && f.Seq > own) own = f.Seq;
        }
        if (own > 0)
        {
            ResumeAfter(own);
            return new(cursors);
        }
        var isNumber = long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var n);
        if (!isNumber && LooksNumeric(lastEventId))
        {
            Live();
            return new(cursors);
        }
        if (isNumber && n > _head)
        {
            // Across instances, another instance may be a few events ahead of this one: start after that number, not before.
            if (_backplane is not null && n - _head <= _bufferSize)
                for (var i = 0; i < rings.Length; i++) cursors[i] = rings[i].Head;
            else Live();
            return new(cursors);
        }
        var defaultOnly = rings.Length == 1 && rings[0] == _default;
        if (defaultOnly && _backplane is not null)
        {
            // Older than this instance's ring: the backplane's history says whether the id names a hub number or an own id
            // there, so a resume means the same on every instance. One coalesced read of the window serves every such client.
            var oldest = Math.Max(1, _head - _replay + 1);
            if (oldest < _localOldest && (!isNumber || n < _localOldest))
            {
                cursors[0] = _default.LastAtOrBefore(_localOldest - 1);
                return new(cursors, FromHistory: true, HistoryAfter: oldest - 1, ResolveId: isNumber && n < oldest - 1 ? null : lastEventId);
            }
        }
        if (!isNumber)
        {
            Window();
            return new(cursors);
        }
        // A number is the hub's only if the frame it names carries it: a publisher's own id "7" is not hub number 7.
        foreach (var ring in rings)
        {
            if (ring.FrameNumbered(n) is { OwnId: true })
            {
                Window();
                return new(cursors);
            }
        }
        ResumeAfter(n);
        return new(cursors);
    }

    /// <summary>An optional sign then digits: a number, if not one this hub could have given.</summary>
    private static bool LooksNumeric(string id)
    {
        var digits = id.AsSpan(id.Length > 0 && id[0] is '-' or '+' ? 1 : 0);
        return !digits.IsEmpty && !digits.ContainsAnyExceptInRange('0', '9');
    }
}
