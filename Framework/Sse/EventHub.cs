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
    // Guards everything the hub owns: its number, the rings' changes, the topic table, the held frames, the idempotency keys,
    // the shared history reads (TopicTable, HeldFrames and IdempotencyIndex are called only under it).
    private readonly Lock _gate = new();
    private readonly int _replay;
    private readonly int _bufferSize;
    private readonly TopicRing _default;
    // The named topics and their retention; what is held across them (MaxBytes); an in-memory hub's idempotency keys.
    private readonly TopicTable _topics;
    private readonly HeldFrames _held = new();
    private readonly IdempotencyIndex _idempotency = new();
    private ArrayBufferWriter<byte> _encoder = new(256);
    private int _count;
    private readonly IEventBackplane? _backplane;
    private readonly Dictionary<long, Task<HubFrame[]>> _historyReads = [];
    private readonly Dictionary<(string, long), Task<TopicHistory>> _topicHistoryReads = [];
    private long _head;
    // On a backplane that listens by topic: the number up to which every listened topic's events are in their rings (what
    // multi-topic streams may take); without one, the head.
    private long _orderedHead;
    private readonly bool _listensByTopic;
    // On a shared hub: the hub number from which the default topic's ring is complete on this instance; older events of it
    // come from the backplane's history.
    private long _localOldest = 1;
    // Without a backplane: the newest number a forgotten topic held (a topic named again is complete only after it).
    private long _forgottenThrough;
    // Without a backplane: the run's base (RunBase), the number before this run's first; one at or below it is an earlier
    // run's (another process, or another hub of this one). With a backplane, 0: the backplane numbers.
    private readonly long _base;
    private long _evictions;
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
        _topics = new TopicTable(name => new TopicRing(this, name, remote: _backplane is not null));
        if (backplane is null)
        {
            // A run is every topic's epoch: each is complete only after the run's base.
            _base = _head = _forgottenThrough = RunBase.Next();
            _default.CompleteAfter = _base;
        }
        else
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

    /// <summary>At most this many bytes of events are kept, across topics, for replay and slow readers (default 64 MB); past it the
    /// oldest go first. The topics themselves count too (about 0.5 KB each and their names): past it, the topic idle the longest goes.</summary>
    public long MaxBytes
    {
        get => _held.MaxBytes;
        init => _held.MaxBytes = value;
    }

    /// <summary>At most this many bytes of events are sent to one resuming client before its stream ends (default 4 MB); it
    /// reconnects with the last id it got and continues exactly, so one small request can never pull the whole window at once.</summary>
    public long MaxReplayBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>A topic with neither a subscriber nor a publish for this long is forgotten, with its retained events (default 10 minutes).</summary>
    public TimeSpan TopicRetention
    {
        get => TimeSpan.FromMilliseconds(_topics.RetentionMs);
        init => _topics.RetentionMs = (long)value.TotalMilliseconds;
    }

    /// <summary>A new subscriber (one without <c>Last-Event-ID</c>) first gets the last this many events of each of its topics,
    /// merged in number order, then live ones: the recent history a page shows as it opens (default 0: live only).</summary>
    public int ReplayOnConnect
    {
        get => _replayOnConnect;
        init => _replayOnConnect = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(ReplayOnConnect), value, "ReplayOnConnect is a number of events: 0 or more.");
    }

    private readonly int _replayOnConnect;

    /// <summary>At most this many topics, across subscribers and retained events (default 100,000; each costs about 0.5 KB
    /// and its name). When a new one would pass it, the topic idle the longest (no subscriber) is forgotten first; when every
    /// topic has a subscriber, subscribing to a new one is a 503 and publishing to one a <see cref="TopicsFullException"/>.</summary>
    public int MaxTopics
    {
        get => _topics.MaxTopics;
        init => _topics.MaxTopics = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxTopics), value, "MaxTopics is a number of topics: 1 or more.");
    }

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

    /// <summary>The sequence number of the last published event, on any topic. Before the first: an in-memory hub's run base (its
    /// first event is numbered one more; see the SSE guide on restarts), a shared hub's last number on its backplane.</summary>
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

    /// <summary>Named topics held now, without sweeping first (tests: how much one sweep does).</summary>
    internal int TopicsHeld
    {
        get
        {
            lock (_gate) return _topics.Count;
        }
    }

    /// <summary>Entries of the retention sweep's queue (tests: topics that come and go do not pile up there).</summary>
    internal int IdleQueued
    {
        get
        {
            lock (_gate) return _topics.Queued;
        }
    }

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
            lock (_gate) return _held.Bytes;
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
        lock (_gate) return _topics.TryGet(topic, out var ring) ? ring.SubscriberCount : 0;
    }

    /// <summary>The subscribers of <paramref name="topic"/> on every instance (presence). Without a backplane, this instance's.</summary>
    public Task<long> CountSubscribersAsync(string topic)
    {
        CheckTopic(topic);
        return _backplane is null ? Task.FromResult((long)CountSubscribers(topic)) : _backplane.CountSubscribersAsync(topic, CountSubscribers(topic));
    }

    // ---- Topics ---------------------------------------------------------------------------------------------------

    /// <summary>The ring of <paramref name="topic"/>, created on first use (a full table forgets its longest-idle topic first).
    /// A ring created for a subscription is not queued for the retention sweep: the subscription leaving lets it go. Under the lock.</summary>
    private TopicRing Topic(string topic, bool subscribing = false)
    {
        if (topic.Length == 0) return _default;
        var now = Environment.TickCount64;
        Sweep(now, force: false);
        var ring = _topics.GetOrAdd(topic, now, subscribing, _held.MaxBytes, out var evicted, out var created);
        if (evicted) LetGoOfForgotten();
        // A new topic on one instance may be one forgotten with its events: it is complete only after what forgotten ones held.
        if (created && _backplane is null) ring.CompleteAfter = _forgottenThrough;
        return ring;
    }

    /// <summary>A named ring without subscribers: forgotten at once when it holds nothing and no backplane listens for it (a
    /// subscription that read nothing leaves nothing behind), else kept for the retention. Under the lock.</summary>
    private void LetGo(TopicRing ring, long now)
    {
        if (ring == _default || ring.SubscriberCount > 0 || ring.Forgotten) return;
        if (ring.Head == 0 && !ring.Listening) _topics.Forget(ring);
        else _topics.QueueIdle(ring, now);
    }

    /// <summary>Forgets topics idle for <see cref="TopicRetention"/> (see <see cref="TopicTable.Sweep"/>); runs on publish and
    /// subscribe (at most every 1/8 of the retention) and on <see cref="TopicCount"/>. Under the lock.</summary>
    private void Sweep(long now, bool force)
    {
        if (!force && !_topics.SweepDue(now)) return;
        do
        {
            _forgottenSinceCompact += _topics.Sweep(now);
        }
        while (force && _topics.SweepPending);
        // Once a slice leaves nothing due (or what was forgotten outnumbers what is held), the tables let go of it: one pass
        // for a whole expiry, not one per slice.
        if (_forgottenSinceCompact > 0 && (!_topics.SweepPending || _forgottenSinceCompact > _held.Count))
        {
            _forgottenSinceCompact = 0;
            LetGoOfForgotten();
        }
    }

    private long _forgottenSinceCompact;

    /// <summary>Nothing keeps forgotten rings that held frames: the held-frame order and the idempotency keys let go of them.</summary>
    private void LetGoOfForgotten()
    {
        _held.Compact();
        _idempotency.Compact();
    }

    /// <summary>The rings of a subscription's topics. A full table is a 503 for a request, an <see cref="ArgumentException"/>
    /// (<see cref="TopicsFullException"/>) otherwise.</summary>
    internal TopicRing[] Rings(string[] names, bool request = false)
    {
        lock (_gate)
        {
            var rings = new TopicRing[names.Length];
            try
            {
                for (var i = 0; i < names.Length; i++) rings[i] = Topic(names[i], subscribing: true);
                return rings;
            }
            catch (TopicsFullException e)
            {
                var now = Environment.TickCount64;
                foreach (var ring in rings) if (ring is not null) LetGo(ring, now);
                if (request) throw new HttpError(503, $"The server holds as many topics as it may ({e.MaxTopics}); try again later.");
                throw;
            }
        }
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

    /// <summary>A topic or an id as a message may quote it: at most 64 characters, controls replaced.</summary>
    internal static string Printable(string topic) =>
        new([.. topic.Take(64).Select(c => char.IsControl(c) ? '?' : c)]);
}
