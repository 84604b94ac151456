namespace Bocata;

/// <summary>Subscribing: checking and authorizing topics, registering a subscription on its rings at fixed cursors (under the hub's lock), listening on a backplane, leaving, evictions.</summary>
public sealed partial class EventHub
{
    // ---- Subscribing ----------------------------------------------------------------------------------------------

    /// <summary>Subscribes for the request: replays what its <c>Last-Event-ID</c> (or, without that header, its <c>lastEventId</c>
    /// query parameter, for an <c>EventSource</c> the page had to re-create) missed, then streams live events until the client leaves.</summary>
    /// <remarks>The subscription belongs to the request: it is removed when the request ends, even if it was never read (HEAD, an exception, a replaced body).</remarks>
    public IAsyncEnumerable<ServerEvent> Subscribe(Request req)
    {
        ArgumentNullException.ThrowIfNull(req);
        // HEAD gets the stream's headers only: it reads nothing, so it subscribes to nothing (and creates no topic).
        if (req.Context.IsHead) return HeadersOnly;
        return OwnedBy(req, Add([_default], ResumeId(req), default));
    }

    private static readonly IAsyncEnumerable<ServerEvent> HeadersOnly = AsyncEnumerable.Empty<ServerEvent>();

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
        // A route that asks for topics on a hub that authorizes them: no topic is not the default topic, unchecked.
        if (topics.Length == 0 && (Authorize is not null || AuthorizeAsync is not null))
            throw new HttpError(400, "Name at least one topic (e.g. ?topic=rooms/1).");
        if (topics.Length == 0) return Subscribe(req);
        var names = topics.Distinct(StringComparer.Ordinal).ToArray();
        if (names.Length > MaxTopicsPerSubscription)
            throw new HttpError(400, $"At most {MaxTopicsPerSubscription} topics per stream; {names.Length} were asked for.");
        foreach (var topic in names)
            if (TopicProblem(topic) is { } problem) throw new HttpError(400, $"Invalid topic '{Printable(topic)}': {problem}.");
        if (Authorize is { } authorize)
            foreach (var topic in names)
                if (!authorize(req, topic)) throw new HttpError(403, $"Not allowed to read topic '{topic}'.");
        // HEAD: checked and (synchronously) authorized like GET, then headers only: no subscription, no topic created.
        if (req.Context.IsHead) return HeadersOnly;
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
            subscription = Add(Rings(names, request: true), ResumeId(req), default);
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



    /// <summary>Ends every subscription (their streams finish after what was already published) and refuses further publishing.</summary>
    public void Complete()
    {
        TopicRing[] rings;
        lock (_gate)
        {
            _completed = true;
            rings = [_default, .. _topics.Rings];
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
                if (rings[i].Forgotten) rings[i] = Topic(rings[i].Name, subscribing: true);
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
            {
                subscription.Initialize(cursors, _head, ReadHistoryAsync(_localOldest - 1), start.ResolveId, start.HistoryAfter);
                subscription.ResumingFrom(lastEventId!);
            }
            else if (resume.Plan is { } plan)
            {
                subscription.Initialize(cursors, _head, startsAfter: startsAfter);
                subscription.InitializeResume(plan, lastEventId!);
            }
            else
                subscription.Initialize(cursors, _head, startsAfter: startsAfter, startsWhenReady: startsWhenReady);
            if (start.Resync is { } reason) subscription.Resync(lastEventId!, reason);
            var now = Environment.TickCount64;
            if (_completed || subscription.IsDisposed)
            {
                foreach (var ring in rings) LetGo(ring, now);
                return;
            }
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
                LetGo(c.Ring, now);
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
}
