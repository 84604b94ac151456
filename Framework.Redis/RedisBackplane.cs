using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>
/// One <see cref="EventHub"/> across instances on Redis. Every instance with the same Redis and topic sees every event once,
/// in one global order, with the same ids; a client resumes with <c>Last-Event-ID</c> on any instance while Redis retains the event.
/// </summary>
/// <remarks>
/// Write path: one prepared Lua script per publish (next number of the hub, <c>XADD … MAXLEN ~</c> to the topic's stream,
/// the topic's previous number, <c>PUBLISH</c>), one round trip. The default topic goes to every instance on the hub's
/// channel; a named topic goes only to the instances listening to it, each on its own channel, so an instance never receives
/// events of topics none of its clients read. Read path: an instance listens to a named topic while it has subscribers to it
/// (and a linger after the last leaves), registering and unregistering topics in batches (one script per batch, whatever the
/// topic count). A message whose topic's previous number was not delivered here is preceded by the missing events, read
/// from the topic's stream with <c>XRANGE</c>. Two Redis connections per instance (the multiplexer's), whatever the number
/// of subscribers and topics.
/// </remarks>
public sealed partial class RedisBackplane : IEventBackplane
{
    // One script per batch of publishes: numbers, appends to the topics' streams, publishes to listeners. KEYS, ARGV and guarantees: Scripts/publish.lua.
    private static readonly string PublishScript = RedisScripts.Load("publish");

    // Listens to (or stops) a batch of topics and publishes the batch's marker. KEYS, ARGV and guarantees: Scripts/listen.lua.
    private static readonly string ListenScript = RedisScripts.Load("listen");

    private readonly IConnectionMultiplexer _redis;
    private readonly bool _ownsConnection;
    private readonly RedisKey _sequenceKey;
    private readonly RedisKey _streamKey;
    private readonly RedisKey _epochKey;

    /// <summary>Beside the epoch: the number it began after, and the Redis run it was settled under (Scripts/hub.lua).</summary>
    private readonly RedisKey _sinceKey;

    private readonly RedisKey _runKey;
    private readonly RedisKey _idempotencyPrefix;
    private RedisChannel _channel;
    private readonly string _prefix;
    private RedisChannel _instanceChannel;
    private string _publishCommand = "PUBLISH";
    // Settles the hub's epoch: a Redis that restarted, lost its data or is behind a number it gave begins a new one above every
    // number given before. KEYS, ARGV and guarantees: Scripts/check.lua and Scripts/hub.lua.
    private static readonly string CheckScript = RedisScripts.Load("check");

    // Presence: every live instance's subscriber count of a topic. KEYS, ARGV and guarantees: Scripts/count.lua.
    private static readonly string CountScript = RedisScripts.Load("count");

    /// <summary>A named topic's low-water mark (Scripts/lowwater.lua).</summary>
    private static readonly string LowWaterScript = RedisScripts.Load("lowwater");

    /// <summary>Entries read per XRANGE when filling a gap or reading history: bounded reads that never monopolise Redis.</summary>
    internal const int PageSize = 512;

    private readonly SemaphoreSlim _order = new(1, 1);
    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly RedisKey _instancesKey;
    // The highest number given by each time (publish.lua): what a topic stream that expired can have held.
    private readonly RedisKey _horizonKey;
    private readonly RedisKey _presencePrefix;
    // This instance's subscriber counts by topic not yet written to Redis (written with the next heartbeat).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _presenceDirty = new(StringComparer.Ordinal);
    // Every topic this instance has subscribers to, rewritten now and then so the hashes never expire under a live instance.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _presence = new(StringComparer.Ordinal);
    // The topics whose count this instance has in Redis: a count that went back to 0 before it was ever written costs nothing.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _presenceWritten = new(StringComparer.Ordinal);
    private long _lastFullPresence;
    private volatile bool _heartbeatSuspended;
    private readonly HashSet<string> _retiredEpochs = new(StringComparer.Ordinal);
    private long _attachedAt;
    // The highest number Redis ever returned to this instance (publishes, listens, checks, the attach): the publish floor, so a
    // Redis that lost its data or was restored from an older snapshot never numbers at or below it again, whether or not this
    // instance heard those numbers (a publish-only instance hears nothing).
    private long _floor;
    private int _registered;
    private readonly CancellationTokenSource _stopping = new();
    private ILogger? _log;
    private ChannelMessageQueue? _messages;
    private ChannelMessageQueue? _instanceMessages;
    // Publishes waiting for a batch, and how many batches are on their way (at most two).
    private readonly Lock _sending = new();
    private readonly Queue<Pending> _waiting = new();
    private int _inFlight;
    private bool _closed;
    private Task? _instancePump;
    private Task? _interestLoop;

    // The named topics this instance listens to (or is about to), and what changes are still to be sent to Redis.
    private readonly Lock _interest = new();
    private readonly Dictionary<string, Listened> _listened = new(StringComparer.Ordinal);
    private readonly HashSet<string> _toListen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _toStop = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, ListenBatch> _batches = new();
    private readonly SemaphoreSlim _interestSignal = new(0);
    private int _interestSignaled;
    private long _nextBatch;
    // Listener sets are written when listened: the first refresh is a refresh period after start, not at the first heartbeat.
    private long _lastInterestRefresh = Environment.TickCount64;
    private long _unserved;
    private long _received;
    private IEventBackplaneSink? _sink;
    private string? _epoch;
    private Task? _pump;
    private Timer? _check;

    /// <summary>Shares <paramref name="redis"/> (this backplane does not close it). Every instance using <paramref name="topic"/> is one hub.</summary>
    public RedisBackplane(IConnectionMultiplexer redis, string topic) : this(redis, topic, ownsConnection: false)
    {
    }

    private RedisBackplane(IConnectionMultiplexer redis, string topic, bool ownsConnection)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        _redis = redis;
        _ownsConnection = ownsConnection;
        Topic = topic;
        // One hash tag keeps a topic's keys on one cluster slot, as the script needs. A name with a '}' would end the tag early
        // (an empty tag, "}chat", hashes each whole key: CROSSSLOT): its tag is then a digest of the name.
        var tag = topic.Contains('}') ? "#" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(topic))) : topic;
        var prefix = _prefix = $"bocata:{{{tag}}}:";
        _sequenceKey = prefix + "seq";
        _streamKey = prefix + "stream";
        _epochKey = prefix + "epoch";
        _sinceKey = prefix + "since";
        _runKey = prefix + "run";
        _idempotencyPrefix = prefix + "once:";
        _instancesKey = prefix + "instances";
        _horizonKey = prefix + "horizon";
        _presencePrefix = prefix + "presence:";
        _channel = RedisChannel.Literal(prefix + "events");
        _instanceChannel = RedisChannel.Literal(prefix + "to:" + _instance);
    }

    /// <summary>On a Redis Cluster, sharded pub/sub (<c>SSUBSCRIBE</c>/<c>SPUBLISH</c>, Redis 7): every key and channel of the hub
    /// carries its hash tag, so the hub lives on one shard (its scripts run there) and different hubs spread over shards.</summary>
    private void DetectCluster()
    {
        var cluster = _redis.GetEndPoints().Select(e => _redis.GetServer(e)).Any(s => s.IsConnected && s.ServerType == ServerType.Cluster);
        if (!cluster) return;
        _channel = RedisChannel.Sharded(_prefix + "events");
        _instanceChannel = RedisChannel.Sharded(_prefix + "to:" + _instance);
        _publishCommand = "SPUBLISH";
    }

    /// <summary>Whether the hub's messages go through sharded pub/sub (a Redis Cluster).</summary>
    internal bool Sharded => _publishCommand == "SPUBLISH";

    /// <summary>Connects to Redis (<paramref name="configuration"/> is a StackExchange.Redis configuration string, e.g. <c>"127.0.0.1:6379"</c>).</summary>
    public static async Task<RedisBackplane> ConnectAsync(string configuration, string topic, TimeSpan? publishTimeout = null, int streamMaxLength = 100_000)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        // While Redis is unreachable, a publish fails at once instead of waiting in a client-side backlog.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        var redis = await ConnectionMultiplexer.ConnectAsync(options);
        return new RedisBackplane(redis, topic, ownsConnection: true) { PublishTimeout = publishTimeout ?? TimeSpan.FromSeconds(2), StreamMaxLength = streamMaxLength };
    }

    /// <summary>The topic: instances on the same Redis and topic share one hub.</summary>
    public string Topic { get; }

    /// <inheritdoc />
    public string? Unavailable => _redis.IsConnected ? null : $"Redis is unreachable (hub '{Topic}'): publishes cannot be confirmed";

    /// <summary>How long <see cref="PublishAsync(ServerEvent, CancellationToken)"/> waits for Redis before it fails (default 2 s).</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>About how many events the Redis stream retains for resumption (<c>MAXLEN ~</c>; default 100,000).</summary>
    public int StreamMaxLength { get; init; } = 100_000;

    /// <summary>How long a silent instance's subscribers still count in <c>CountSubscribersAsync</c> (default 5 s, five
    /// heartbeats of <see cref="CheckInterval"/>): an instance that died stops counting within this time plus a heartbeat, and
    /// stops being sent the topics it listened to (one stalled longer catches up from the topics' streams when it is back).
    /// Set it the same on every instance of a hub.</summary>
    public TimeSpan PresenceTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often every presence count and every listened topic is written again, so their keys never expire under a
    /// live instance: <see cref="PresenceTtl"/>, at least 15 s. Liveness is read from heartbeats, never from these keys, so a
    /// short <see cref="PresenceTtl"/> does not multiply this background work (10,000 topics: 20,000 commands a refresh).</summary>
    private TimeSpan RefreshPeriod => PresenceTtl > MinimumRefreshPeriod ? PresenceTtl : MinimumRefreshPeriod;

    private static readonly TimeSpan MinimumRefreshPeriod = TimeSpan.FromSeconds(15);

    /// <summary>How long presence hashes, listener sets and the taken-for-dead set live unrefreshed (seconds): four refreshes.</summary>
    private long KeyLifeSeconds => Math.Max(1, (long)(RefreshPeriod * 4).TotalSeconds);

    /// <summary>How long an idempotency key is remembered: a retry with the same key within it publishes nothing (default 10 minutes).</summary>
    public TimeSpan IdempotencyWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the stored sequence is compared with what was delivered, to repair pub/sub messages lost silently (default 1 s).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where to log repairs and faults (category <c>Bocata.Redis</c>). Default: the app's own loggers, once an app has started.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    // Created on first use once loggers are known (LoggerFactory is set by an initializer; the app's loggers when it starts),
    // and again when the app's loggers change: a line logged before the hub's own app started must not pin an earlier app's.
    private ILogger Log
    {
        get
        {
            var factory = LoggerFactory ?? _sink?.LoggerFactory;
            if (factory is null) return NullLogger.Instance;
            if (_log is { } log && ReferenceEquals(_logFactory, factory)) return log;
            _logFactory = factory;
            return _log = factory.CreateLogger("Bocata.Redis");
        }
    }

    private ILoggerFactory? _logFactory;

    /// <summary>About how many events each named topic's Redis stream retains for resumption on any instance (<c>MAXLEN ~</c>; default 1,000).</summary>
    public int TopicStreamMaxLength { get; init; } = 1000;

    /// <summary>How long a named topic's Redis stream lives after its last publish (default 1 hour): a resume on any instance
    /// within it is exact; a resume from before a stream that expired starts with <c>event: resync</c> (what it held is gone).</summary>
    public TimeSpan TopicStreamRetention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long this instance keeps listening to a named topic after its last subscriber left (default 5 s), so a
    /// reconnecting client does not make it stop and start again.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>For tests: named topics' events that reached this instance on pub/sub.</summary>
    internal long ReceivedEvents => Interlocked.Read(ref _received);

    /// <summary>For tests: pub/sub messages of topics this instance did not listen to (should stay 0).</summary>
    internal long UnservedMessages => Interlocked.Read(ref _unserved);

    /// <summary>For tests: the named topics this instance listens to.</summary>
    internal string[] ListenedTopics
    {
        get
        {
            lock (_interest) return [.. _listened.Keys];
        }
    }

    /// <inheritdoc />
    /// <remarks>Never fails for Redis being down: the hub starts at 0 and catches up (from the stream) once Redis answers.</remarks>
    public long Attach(IEventBackplaneSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
            throw new InvalidOperationException("This RedisBackplane already serves a hub: create one backplane per EventHub.");
        try
        {
            // Subscribe first, then read the stored number: everything after it is either queued or found by a check.
            DetectCluster();
            var subscriber = _redis.GetSubscriber();
            _messages = subscriber.Subscribe(_channel);
            _instanceMessages = subscriber.Subscribe(_instanceChannel);
            ListenForDisconnects();
            var values = _redis.GetDatabase().StringGet([_sequenceKey, _epochKey]);
            _epoch = values[1].HasValue ? (string?)values[1] : null;
            _attachedAt = values[0].HasValue ? (long)values[0] : 0;
            RaiseFloor(_attachedAt);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The pump subscribes when Redis answers, and its first check reads what was published meanwhile.
            _messages = null;
            _instanceMessages = null;
            Log.LogWarning(e, "Redis backplane for topic {Topic}: Redis is unreachable at startup; publishing fails until it answers, then this instance catches up", Topic);
        }
        _pump = Task.Run(PumpAsync);
        _interestLoop = Task.Run(InterestLoopAsync);
        _check = new Timer(static s => _ = ((RedisBackplane)s!).CheckAsync(), this, CheckInterval, CheckInterval);
        _redis.ConnectionRestored += OnConnectionRestored;
        _redis.ConnectionFailed += OnConnectionFailed;
        return _attachedAt;
    }

    private RedisKey TopicStream(string topic) => topic.Length == 0 ? _streamKey : (RedisKey)(_prefix + "topic:" + topic);

    private RedisKey Listeners(string topic) => _prefix + "listeners:" + topic;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            // Gone: this instance's subscribers stop counting at once, not after PresenceTtl.
            if (_messages is not null) await _redis.GetDatabase().SortedSetRemoveAsync(_instancesKey, _instance).WaitAsync(PublishTimeout);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
        }
        await _stopping.CancelAsync();
        _redis.ConnectionRestored -= OnConnectionRestored;
        _redis.ConnectionFailed -= OnConnectionFailed;
        if (_check is not null) await _check.DisposeAsync();
        if (_messages is not null) await _messages.UnsubscribeAsync();
        if (_instanceMessages is not null) await _instanceMessages.UnsubscribeAsync();
        await StopListeningForDisconnectsAsync();
        if (_pump is not null) await _pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_instancePump is not null) await _instancePump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_interestLoop is not null) await _interestLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_sending)
        {
            _closed = true;
            var gone = new ObjectDisposedException(nameof(RedisBackplane), "The backplane was disposed before this publish was sent.");
            while (_waiting.TryDequeue(out var left)) left.Done.TrySetException(gone);
        }
        if (_ownsConnection) await _redis.DisposeAsync();
        _stopping.Dispose();
    }
}

/// <summary>The backplane's metrics, on Bocata's meter (<c>Meter("Bocata")</c>): repairs and data losses are never silent.</summary>
internal static class BackplaneTelemetry
{
    private static readonly System.Diagnostics.Metrics.Meter Meter = new("Bocata", typeof(BackplaneTelemetry).Assembly.GetName().Version?.ToString(3));

    public static readonly System.Diagnostics.Metrics.Counter<long> RepairedEvents = Meter.CreateCounter<long>(
        "bocata.backplane.repaired_events", "{event}", "Events pub/sub lost that were read back from the Redis stream.");

    public static readonly System.Diagnostics.Metrics.Counter<long> SkippedEvents = Meter.CreateCounter<long>(
        "bocata.backplane.skipped_events", "{event}", "Events missed beyond what the hub can hold, not read back (subscribers that needed them resume).");

    public static readonly System.Diagnostics.Metrics.Counter<long> ReceivedEvents = Meter.CreateCounter<long>(
        "bocata.backplane.received_events", "{event}", "Named topics' events Redis sent this instance (tag served: false for a topic it no longer listens to).");

    public static readonly System.Diagnostics.Metrics.Counter<long> EpochChanges = Meter.CreateCounter<long>(
        "bocata.backplane.epoch_changes", "{change}", "Times Redis was found to have lost its data.");
}
