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
public sealed class RedisBackplane : IEventBackplane
{
    // One script per batch of publishes (every publish that arrived while the previous batch was on its way: a burst of
    // concurrent publishes costs a few round trips, not one each). KEYS: sequence, epoch, the hub's instances (by last
    // heartbeat); then per event: its topic's stream, its topic's listeners, its idempotency key (placeholders for the default
    // topic / no key). ARGV: epoch candidate, floor, the hub's channel, the prefix of instance channels, idempotency window
    // (seconds), the oldest heartbeat still alive (ms), the publish command, the count; then per event: payload, max length,
    // the stream's retention (seconds; empty for the default topic), '1' when it has an idempotency key. Returns each event's
    // number. A listener found dead leaves the listener set and the instances (a lease: it learns at its next heartbeat, however
    // long it stalled, and listens again). Each stream entry records its topic's previous number (p) and dense offset (o).
    // An epoch stored beside the sequence tells a Redis that lost its data. Numbering never goes at or below the publisher's
    // floor (the highest number Redis ever returned to it): not after a data loss (a new epoch), nor after a restore from an older snapshot (the
    // same epoch, a lower sequence), so a number is never given twice and every instance delivers what is published.
    // Each message carries its topic's previous number: a receiver that did not deliver it fills the gap from the stream.
    // The default topic goes to every instance on the hub's channel; a named topic only to its live listeners' channels.
    // Messages for one channel travel as one pub/sub message, one per line (JSON payloads have no raw newline).
    private const string PublishScript = """
        local epoch = redis.call('GET', KEYS[2])
        if not epoch then
          epoch = ARGV[1]
          redis.call('SET', KEYS[2], epoch)
        end
        local n = tonumber(redis.call('GET', KEYS[1]) or '0')
        local floor = tonumber(ARGV[2])
        if floor > n then n = floor end
        local alive = tonumber(ARGV[6])
        local lastOf = {}
        local offsetOf = {}
        local out = {}
        local order = {}
        local listeners = {}
        local numbers = {}
        local function send(channel, message)
          local list = out[channel]
          if not list then
            list = {}
            out[channel] = list
            order[#order + 1] = channel
          end
          list[#list + 1] = message
        end
        for i = 1, tonumber(ARGV[8]) do
          local k = 3 + (i - 1) * 3
          local a = 8 + (i - 1) * 4
          local first = nil
          if ARGV[a + 4] == '1' then first = redis.call('GET', KEYS[k + 3]) end
          if first then
            numbers[i] = tonumber(first)
          else
            n = n + 1
            numbers[i] = n
            -- The topic's previous number and its dense offset: its stream's newest entry, read once per topic and batch.
            local prev = lastOf[KEYS[k + 1]]
            local off = offsetOf[KEYS[k + 1]]
            if not prev then
              prev = 0
              off = 0
              local last = redis.call('XREVRANGE', KEYS[k + 1], '+', '-', 'COUNT', 1)
              if last[1] then
                prev = tonumber(string.match(last[1][1], '^%d+'))
                local fields = last[1][2]
                for j = 1, #fields, 2 do
                  if fields[j] == 'o' then off = tonumber(fields[j + 1]) end
                end
              end
            end
            off = off + 1
            lastOf[KEYS[k + 1]] = n
            offsetOf[KEYS[k + 1]] = off
            -- Each entry names the topic's event before it (p) and its offset (o): a reader sees a trimmed range at once.
            redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[a + 2], n .. '-0', 'e', ARGV[a + 1], 'p', prev, 'o', off)
            local message = epoch .. '|' .. n .. '|' .. prev .. '|' .. ARGV[a + 1]
            if ARGV[a + 3] == '' then
              send(ARGV[3], message)
            else
              redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 3])
              local live = listeners[KEYS[k + 2]]
              if not live then
                live = {}
                for _, instance in ipairs(redis.call('SMEMBERS', KEYS[k + 2])) do
                  local seen = redis.call('ZSCORE', KEYS[3], instance)
                  if seen and tonumber(seen) >= alive then
                    live[#live + 1] = instance
                  else
                    -- Taken for dead: off the listeners and off the instances, which it finds at its next heartbeat.
                    redis.call('SREM', KEYS[k + 2], instance)
                    redis.call('ZREM', KEYS[3], instance)
                  end
                end
                listeners[KEYS[k + 2]] = live
              end
              for _, instance in ipairs(live) do send(ARGV[4] .. instance, message) end
            end
            if ARGV[a + 4] == '1' then redis.call('SET', KEYS[k + 3], n, 'EX', ARGV[5]) end
          end
        end
        redis.call('SET', KEYS[1], n)
        for _, channel in ipairs(order) do redis.call(ARGV[7], channel, table.concat(out[channel], '\n')) end
        return numbers
        """;

    // Listening. KEYS: the hub's instances, sequence, then one listener set per topic. ARGV: this instance, now (ms), how long
    // a listener set lives unrefreshed (seconds), this instance's channel, the batch (empty: no marker), the publish command,
    // then '+' (listen) or '-' (stop) per topic. The marker, published after the batch took effect, reaches this instance
    // after every message published before it: what it carries (the hub's number then) is how far the stream reads go.
    private const string ListenScript = """
        local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        for i = 3, #KEYS do
          if ARGV[i + 4] == '+' then
            redis.call('SADD', KEYS[i], ARGV[1])
            redis.call('EXPIRE', KEYS[i], ARGV[3])
          else
            redis.call('SREM', KEYS[i], ARGV[1])
          end
        end
        local g = tonumber(redis.call('GET', KEYS[2]) or '0')
        if ARGV[5] ~= '' then redis.call(ARGV[6], ARGV[4], '!|' .. ARGV[5] .. '|' .. g) end
        return {g, added}
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly bool _ownsConnection;
    private readonly RedisKey _sequenceKey;
    private readonly RedisKey _streamKey;
    private readonly RedisKey _epochKey;
    private readonly RedisKey _idempotencyPrefix;
    private RedisChannel _channel;
    private readonly string _prefix;
    private RedisChannel _instanceChannel;
    private string _publishCommand = "PUBLISH";
    // KEYS: sequence. ARGV: floor. Raises a sequence found behind what was already delivered (a restore from an older snapshot).
    private const string FloorScript = """
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        local floor = tonumber(ARGV[1])
        if floor > current then redis.call('SET', KEYS[1], floor) end
        return current
        """;

    // Presence. KEYS: the topic's hash (instance → count), the hub's instances (sorted by last heartbeat). ARGV: now (ms),
    // how long a silent instance still counts (ms), this instance (its own count is the caller's, given as ARGV[4]).
    // A silent instance's field is not counted but kept (it counts again at its next heartbeat); the fields of instances gone
    // from the instances (disposed, pruned, taken for dead) are dropped as they are found.
    private const string CountScript = """
        local now = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local total = tonumber(ARGV[4])
        local all = redis.call('HGETALL', KEYS[1])
        for i = 1, #all, 2 do
          if all[i] ~= ARGV[3] then
            local seen = redis.call('ZSCORE', KEYS[2], all[i])
            if seen then
              if tonumber(seen) > now - ttl then total = total + tonumber(all[i + 1]) end
            else
              redis.call('HDEL', KEYS[1], all[i])
            end
          end
        end
        return total
        """;

    /// <summary>Entries read per XRANGE when filling a gap or reading history: bounded reads that never monopolise Redis.</summary>
    internal const int PageSize = 512;

    private readonly SemaphoreSlim _order = new(1, 1);
    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly RedisKey _instancesKey;
    private readonly RedisKey _presencePrefix;
    // This instance's subscriber counts by topic not yet written to Redis (written with the next heartbeat).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _presenceDirty = new(StringComparer.Ordinal);
    // Every topic this instance has subscribers to, rewritten now and then so the hashes never expire under a live instance.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _presence = new(StringComparer.Ordinal);
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
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, string[]> _batches = new();
    private readonly SemaphoreSlim _interestSignal = new(0);
    private int _interestSignaled;
    private long _nextBatch;
    private long _lastInterestRefresh;
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
        _idempotencyPrefix = prefix + "once:";
        _instancesKey = prefix + "instances";
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

    /// <summary>A named topic this instance listens to: since which hub number it needs its events, whether they all arrived
    /// (its streams go on), the batch that last asked Redis for it, and since when it has had no subscriber (0: it has some).</summary>
    private sealed class Listened(long from)
    {
        public long From = from;
        public bool Ready;
        public long Batch;
        public long SentAt;
        public long IdleSince = Environment.TickCount64;
    }

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

    // Created on first use once loggers are known (LoggerFactory is set by an initializer; the app's loggers when it starts).
    private ILogger Log
    {
        get
        {
            if (_log is not null) return _log;
            var factory = LoggerFactory ?? _sink?.LoggerFactory;
            return factory is null ? NullLogger.Instance : _log = factory.CreateLogger("Bocata.Redis");
        }
    }

    /// <summary>About how many events each named topic's Redis stream retains for resumption on any instance (<c>MAXLEN ~</c>; default 1,000).</summary>
    public int TopicStreamMaxLength { get; init; } = 1000;

    /// <summary>How long a named topic's Redis stream lives after its last publish (default 1 hour): a resume on any instance
    /// within it is exact.</summary>
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

    /// <inheritdoc />
    public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default) => PublishCoreAsync("", evt, null, cancellationToken);

    /// <inheritdoc />
    /// <remarks>A named topic's events go to its own stream and only to the instances listening to it.</remarks>
    public Task<long> PublishAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (idempotencyKey is not null) ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        return PublishCoreAsync(topic, evt, idempotencyKey, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>The key is remembered in Redis for <see cref="IdempotencyWindow"/>, checked and set in the same script as the publish.</remarks>
    public Task<long> PublishAsync(ServerEvent evt, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        return PublishCoreAsync("", evt, idempotencyKey, cancellationToken);
    }

    private RedisKey TopicStream(string topic) => topic.Length == 0 ? _streamKey : (RedisKey)(_prefix + "topic:" + topic);

    private RedisKey Listeners(string topic) => _prefix + "listeners:" + topic;

    private async Task<long> PublishCoreAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        _ = _sink ?? throw new InvalidOperationException("Give this backplane to an EventHub before publishing: new EventHub(backplane: ...).");
        var pending = new Pending(topic, EventCodec.Encode(evt, topic), idempotencyKey);
        Enqueue(pending);
        try
        {
            // The writer fails a publish PublishTimeout after it was made: no timer per publish.
            return cancellationToken.CanBeCanceled ? await pending.Done.Task.WaitAsync(cancellationToken) : await pending.Done.Task;
        }
        catch (RedisConnectionException e)
        {
            throw new BackplaneUnavailableException($"Redis is unreachable: the publish to topic '{Topic}' was not sent. Retry when Redis is back (publishing with an idempotency key makes retries safe).", e);
        }
        catch (TimeoutException e)
        {
            throw new BackplaneUnavailableException(idempotencyKey is null
                ? $"Redis did not confirm the publish to topic '{Topic}' within {PublishTimeout.TotalSeconds:0.###} s. The event may or may not be published (Redis can still run it): a retry can publish it twice; publish with an idempotency key to retry safely."
                : $"Redis did not confirm the publish to topic '{Topic}' within {PublishTimeout.TotalSeconds:0.###} s. The event may or may not be published; retrying with the same idempotency key publishes it at most once.", e);
        }
    }

    /// <summary>A publish waiting for its batch.</summary>
    private sealed class Pending(string topic, string payload, string? key)
    {
        public readonly string Topic = topic;
        public readonly string Payload = payload;
        public readonly string? Key = key;
        public readonly TaskCompletionSource<long> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly long Made = Environment.TickCount64;
    }

    /// <summary>At most this many publishes go in one script.</summary>
    internal const int MaxBatch = 256;

    /// <summary>Sends at once when fewer than two batches are on their way (a lone publish costs one round trip, no hop);
    /// otherwise the publish waits for the next batch, which leaves as soon as one returns. Batches are handed to Redis under
    /// the lock, in order, on one connection: the order of publishing is the order of numbering.</summary>
    private void Enqueue(Pending pending)
    {
        lock (_sending)
        {
            if (_closed) throw new ObjectDisposedException(nameof(RedisBackplane), "This backplane was disposed: publish through a hub whose backplane is running.");
            _waiting.Enqueue(pending);
            if (_inFlight < 2) SendNextLocked();
        }
    }

    /// <summary>Takes up to <see cref="MaxBatch"/> waiting publishes and hands them to Redis as one script. Under the lock.</summary>
    private void SendNextLocked()
    {
        while (_waiting.Count > 0)
        {
            var batch = new List<Pending>(Math.Min(_waiting.Count, MaxBatch));
            while (batch.Count < MaxBatch && _waiting.TryDequeue(out var next)) batch.Add(next);
            // Redis has until the oldest publish of the batch is PublishTimeout old (it may have waited for earlier batches).
            var left = batch[0].Made + (long)PublishTimeout.TotalMilliseconds - Environment.TickCount64;
            if (left <= 0)
            {
                var late = new TimeoutException("The publish waited for earlier ones longer than PublishTimeout.");
                foreach (var p in batch) p.Done.TrySetException(late);
                continue;
            }
            Task<RedisResult> sent;
            try
            {
                sent = Send(batch);
            }
            catch (Exception e)
            {
                foreach (var p in batch) p.Done.TrySetException(e);
                continue;
            }
            _inFlight++;
            _ = CompleteAsync(batch, sent, TimeSpan.FromMilliseconds(left));
            return;
        }
    }

    private async Task CompleteAsync(List<Pending> batch, Task<RedisResult> sent, TimeSpan left)
    {
        try
        {
            var numbers = (RedisResult[])(await sent.WaitAsync(left))!;
            var highest = 0L;
            for (var i = 0; i < batch.Count; i++) highest = Math.Max(highest, (long)numbers[i]);
            RaiseFloor(highest);
            for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult((long)numbers[i]);
        }
        catch (Exception e)
        {
            foreach (var p in batch) p.Done.TrySetException(e);
        }
        lock (_sending)
        {
            _inFlight--;
            if (!_closed) SendNextLocked();
        }
    }

    private Task<RedisResult> Send(List<Pending> batch)
    {
        var keys = new RedisKey[3 + 3 * batch.Count];
        var values = new RedisValue[8 + 4 * batch.Count];
        keys[0] = _sequenceKey;
        keys[1] = _epochKey;
        keys[2] = _instancesKey;
        values[0] = Guid.NewGuid().ToString("N");
        values[1] = Floor;
        values[2] = _channel.ToString();
        values[3] = _prefix + "to:";
        values[4] = Math.Max(1, (long)IdempotencyWindow.TotalSeconds);
        values[5] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - (long)PresenceTtl.TotalMilliseconds;
        values[6] = _publishCommand;
        values[7] = batch.Count;
        var retention = Math.Max(1, (long)TopicStreamRetention.TotalSeconds);
        for (var i = 0; i < batch.Count; i++)
        {
            var p = batch[i];
            var named = p.Topic.Length != 0;
            var stream = TopicStream(p.Topic);
            keys[3 + 3 * i] = stream;
            keys[4 + 3 * i] = named ? Listeners(p.Topic) : stream;
            keys[5 + 3 * i] = p.Key is null ? stream : _idempotencyPrefix.Append(p.Key);
            values[8 + 4 * i] = p.Payload;
            values[9 + 4 * i] = named ? TopicStreamMaxLength : StreamMaxLength;
            values[10 + 4 * i] = named ? retention : "";
            values[11 + 4 * i] = p.Key is null ? "" : "1";
        }
        return _redis.GetDatabase().ScriptEvaluateAsync(PublishScript, keys, values);
    }

    /// <inheritdoc />
    /// <remarks>The default topic's events, read in pages of <see cref="PageSize"/> entries; an entry that cannot be decoded is
    /// logged and skipped.</remarks>
    public async Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default)
    {
        var events = new List<BackplaneEvent>();
        while (from <= to)
        {
            var page = await ReadPageAsync(from, to, cancellationToken);
            if (page.Count == 0) break;
            foreach (var entry in page)
                if (entry.Event is { } e) events.Add(new BackplaneEvent(entry.Sequence, e.Event) { Topic = e.Topic, Previous = entry.Previous });
            from = page[^1].Sequence + 1;
        }
        return events;
    }

    /// <inheritdoc />
    public bool ListensByTopic => true;

    /// <inheritdoc />
    /// <remarks>Read from the topic's own stream, newest first in pages of <see cref="PageSize"/>.</remarks>
    public async Task<IReadOnlyList<BackplaneEvent>> ReadTopicAsync(string topic, long to, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var (entries, _) = await ReadNewestAsync(TopicStream(topic), 0, to, count, cancellationToken);
        return [.. entries.Where(e => e.Event is not null).Select(e => new BackplaneEvent(e.Sequence, e.Event!.Value.Event) { Topic = topic, Previous = e.Previous })];
    }

    /// <summary>Up to <see cref="PageSize"/> entries of the default topic's stream from <paramref name="from"/>; a null event is an entry that could not be decoded.</summary>
    private async Task<List<StoredEntry>> ReadPageAsync(long from, long to, CancellationToken cancellationToken = default)
    {
        var entries = await _redis.GetDatabase().StreamRangeAsync(_streamKey, $"{from}-0", $"{to}-0", PageSize).WaitAsync(PublishTimeout, cancellationToken);
        return Entries(entries);
    }

    /// <summary>A stream entry: its number, its event (null: undecodable), and the number of its topic's event before it
    /// (0: none; -1: not recorded, an entry written before entries carried it).</summary>
    private readonly record struct StoredEntry(long Sequence, (ServerEvent Event, string Topic)? Event, long Previous);

    private List<StoredEntry> Entries(StreamEntry[] entries)
    {
        var page = new List<StoredEntry>(entries.Length);
        foreach (var entry in entries)
        {
            var id = (string)entry.Id!;
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            if (!long.TryParse(id.AsSpan(0, dash < 0 ? id.Length : dash), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)) continue;
            var p = entry["p"];
            var previous = p.HasValue && long.TryParse((string)p!, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1;
            page.Add(new StoredEntry(seq, Decode(seq, entry["e"]), previous));
        }
        return page;
    }

    /// <summary>The newest (at most <paramref name="max"/>) entries of <paramref name="stream"/> numbered after <paramref name="after"/>
    /// up to <paramref name="through"/>, in order, read backwards in pages; Trimmed when older ones in the range were left out.</summary>
    private async Task<(List<StoredEntry> Entries, bool Trimmed)> ReadNewestAsync(
        RedisKey stream, long after, long through, long max, CancellationToken cancellationToken = default)
    {
        var result = new List<StoredEntry>();
        var upper = through;
        var trimmed = false;
        var db = _redis.GetDatabase();
        while (upper > after)
        {
            var want = (int)Math.Min(PageSize, max - result.Count);
            if (want <= 0)
            {
                trimmed = true;
                break;
            }
            var entries = await db.StreamRangeAsync(stream, $"{after + 1}-0", $"{upper}-0", want, Order.Descending).WaitAsync(PublishTimeout, cancellationToken);
            if (entries.Length == 0) break;
            var page = Entries(entries);
            result.AddRange(page);
            if (page.Count == 0 || entries.Length < want) break;
            upper = page[^1].Sequence - 1;
        }
        result.Reverse();
        return (result, trimmed);
    }

    /// <summary>An entry written by another codec version or by hand is skipped as a gap, never a stop of delivery.</summary>
    private (ServerEvent Event, string Topic)? Decode(long seq, RedisValue payload) =>
        payload.IsNull ? Undecodable(seq, new InvalidDataException("The entry has no 'e' field.")) : Decode(seq, ((string)payload!).AsSpan());

    private (ServerEvent Event, string Topic)? Undecodable(long seq, Exception e)
    {
        Log.LogWarning(e, "Redis backplane for topic {Topic}: stream entry {Sequence} cannot be decoded and is skipped", Topic, seq);
        return null;
    }

    private (ServerEvent Event, string Topic)? Decode(long seq, ReadOnlySpan<char> payload)
    {
        try
        {
            return EventCodec.DecodeWithTopic(payload);
        }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or ArgumentException)
        {
            Log.LogWarning(e, "Redis backplane for topic {Topic}: stream entry {Sequence} cannot be decoded and is skipped", Topic, seq);
            return null;
        }
    }

    /// <summary>Delivers pub/sub messages in order, one at a time: the default topic's from the hub's channel, named topics' from
    /// this instance's channel (each in its own order; a stream of several topics is held while one of them catches up).</summary>
    private async Task PumpAsync()
    {
        if (_messages is null && !await SubscribeWhenReachableAsync()) return;
        _instancePump = Task.Run(() => ConsumeAsync(_instanceMessages!, HandleInstanceMessageAsync));
        await ConsumeAsync(_messages!, HandleDefaultMessageAsync);
    }

    private async Task ConsumeAsync(ChannelMessageQueue messages, Func<string, Task> handle)
    {
        while (!_stopping.IsCancellationRequested)
        {
            ChannelMessage message;
            try
            {
                message = await messages.ReadAsync(_stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                return;
            }
            try
            {
                await handle((string)message.Message!);
            }
            catch (Exception e) when (!_stopping.IsCancellationRequested)
            {
                Log.LogWarning(e, "Redis backplane for topic {Topic}: a message could not be delivered; the next check repairs the gap", Topic);
            }
        }
    }

    /// <summary>One event line: <c>epoch|number|previous|payload</c>, decoded. False when it is not one of ours or of a lost epoch;
    /// a null event is one that could not be decoded (skipped).</summary>
    private bool TryRead(ReadOnlySpan<char> line, out long seq, out long previous, out (ServerEvent Event, string Topic)? evt)
    {
        evt = null;
        seq = previous = 0;
        var first = line.IndexOf('|');
        var second = first < 0 ? -1 : line[(first + 1)..].IndexOf('|') + first + 1;
        var third = second <= first ? -1 : line[(second + 1)..].IndexOf('|') + second + 1;
        if (first < 0 || second <= first || third <= second
            || !long.TryParse(line[(first + 1)..second], NumberStyles.None, CultureInfo.InvariantCulture, out seq)
            || !long.TryParse(line[(second + 1)..third], NumberStyles.None, CultureInfo.InvariantCulture, out previous))
        {
            Log.LogWarning("Redis backplane for topic {Topic}: a pub/sub message is not one of ours and is ignored", Topic);
            return false;
        }
        var epoch = line[..first];
        if ((_epoch is null || !epoch.SequenceEqual(_epoch)) && !ObserveEpoch(epoch.ToString(), seq)) return false;
        evt = Decode(seq, line[(third + 1)..]);
        return true;
    }

    private static List<Range> Lines(string text)
    {
        var lines = new List<Range>(4);
        foreach (var range in text.AsSpan().Split('\n')) lines.Add(range);
        return lines;
    }

    /// <summary>Redis was down when the hub attached: subscribe once it answers, then catch up on what was published meanwhile.</summary>
    private async Task<bool> SubscribeWhenReachableAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                DetectCluster();
                var subscriber = _redis.GetSubscriber();
                _instanceMessages = await subscriber.SubscribeAsync(_instanceChannel);
                _messages = await subscriber.SubscribeAsync(_channel);
                Log.LogInformation("Redis backplane for topic {Topic}: Redis answers; catching up", Topic);
                _ = CheckAsync();
                SignalInterest();
                return true;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                try
                {
                    await Task.Delay(CheckInterval, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }
            }
        }
        return false;
    }

    /// <summary>The last number delivered to the hub (or the one it attached at, before it took over).</summary>
    private long Head => Math.Max(_sink!.LastSequence, Volatile.Read(ref _attachedAt));

    /// <summary>Numbering never goes at or below this: every number Redis returned to this instance or it delivered.</summary>
    private long Floor => Math.Max(Head, Volatile.Read(ref _floor));

    /// <inheritdoc />
    public long KnownSequence => _sink is null ? Volatile.Read(ref _floor) : Floor;

    /// <inheritdoc />
    public async Task<long> ReadLastSequenceAsync(CancellationToken cancellationToken = default)
    {
        var stored = await _redis.GetDatabase().StringGetAsync(_sequenceKey).WaitAsync(PublishTimeout, cancellationToken);
        var last = stored.HasValue ? (long)stored : 0;
        RaiseFloor(last);
        return Floor;
    }

    private void RaiseFloor(long number)
    {
        var current = Volatile.Read(ref _floor);
        while (number > current)
        {
            var seen = Interlocked.CompareExchange(ref _floor, number, current);
            if (seen == current) return;
            current = seen;
        }
    }

    /// <summary>The last number of the default topic delivered here (or the one the hub attached at).</summary>
    private long DefaultHead => Math.Max(_sink!.TopicLast(""), Volatile.Read(ref _attachedAt));

    /// <summary>The default topic's messages, one per line (a batch of publishes travels as one pub/sub message).</summary>
    private async Task HandleDefaultMessageAsync(string text)
    {
        await _order.WaitAsync(_stopping.Token);
        try
        {
            foreach (var line in Lines(text))
            {
                if (!TryRead(text.AsSpan(line), out var seq, out var previous, out var evt)) continue;
                var head = DefaultHead;
                if (seq <= head) continue;
                // A gap that cannot be read now is read before the next message (its previous number is still missing).
                if (previous > head && !await TryFillLockedAsync("", head, previous)) continue;
                if (evt is { } e) _sink!.Deliver(seq, previous, "", e.Event);
            }
        }
        finally
        {
            _order.Release();
        }
    }

    /// <summary>This instance's channel: named topics' events (one per line), or a marker (<c>!|batch|number</c>).</summary>
    private async Task HandleInstanceMessageAsync(string text)
    {
        if (text.StartsWith("!|", StringComparison.Ordinal))
        {
            var bar = text.IndexOf('|', 2);
            if (bar > 2 && long.TryParse(text.AsSpan(2, bar - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var batch)
                && long.TryParse(text.AsSpan(bar + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var through))
                await OnMarkerAsync(batch, through);
            return;
        }
        await _order.WaitAsync(_stopping.Token);
        try
        {
            foreach (var line in Lines(text))
            {
                Interlocked.Increment(ref _received);
                if (!TryRead(text.AsSpan(line), out var seq, out var previous, out var decoded) || decoded is not { } evt || evt.Topic.Length == 0) continue;
                long from;
                lock (_interest)
                {
                    if (!_listened.TryGetValue(evt.Topic, out var listened))
                    {
                        // Published before this instance's stop reached Redis: not kept.
                        Interlocked.Increment(ref _unserved);
                        BackplaneTelemetry.ReceivedEvents.Add(1, new KeyValuePair<string, object?>("served", false));
                        continue;
                    }
                    from = listened.From;
                }
                BackplaneTelemetry.ReceivedEvents.Add(1, new KeyValuePair<string, object?>("served", true));
                var last = Math.Max(_sink!.TopicLast(evt.Topic), from);
                if (seq <= last) continue;
                if (previous > last && !await TryFillLockedAsync(evt.Topic, last, previous)) continue;
                _sink.Deliver(seq, previous, evt.Topic, evt.Event);
            }
        }
        finally
        {
            _order.Release();
        }
    }

    /// <summary>A batch of topics took effect in Redis, and every message published before it has been handled: each topic's
    /// events up to <paramref name="through"/> that this instance does not have are read from its stream, then its streams go on.</summary>
    private async Task OnMarkerAsync(long batch, long through)
    {
        RaiseFloor(through);
        if (!_batches.TryRemove(batch, out var topics)) return;
        await _order.WaitAsync(_stopping.Token);
        try
        {
            // Read concurrently (pipelined on one connection), delivered topic by topic: the topics' streams are held meanwhile.
            var reads = new List<(string Topic, long After, Task<(List<StoredEntry> Entries, bool Trimmed)> Read)>();
            foreach (var topic in topics)
            {
                long from;
                lock (_interest)
                {
                    if (!_listened.TryGetValue(topic, out var listened) || listened.Batch != batch) continue;
                    from = listened.From;
                }
                var after = Math.Max(_sink!.TopicLast(topic), from);
                reads.Add((topic, after, after < through ? ReadNewestAsync(TopicStream(topic), after, through, _sink.Capacity) : Task.FromResult((new List<StoredEntry>(), false))));
            }
            foreach (var (topic, after, read) in reads)
            {
                try
                {
                    Deliver(topic, after, await read);
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    // Not ready: the topic is asked for again after the marker timeout.
                    Log.LogWarning(e, "Redis backplane for topic {Topic}: could not read topic {Name}'s stream; retrying", Topic, topic);
                    continue;
                }
                lock (_interest)
                {
                    if (!_listened.TryGetValue(topic, out var listened) || listened.Batch != batch) continue;
                    listened.Ready = true;
                }
                _sink!.TopicReady(topic, through);
            }
        }
        finally
        {
            _order.Release();
        }
    }

    /// <summary>Delivers what was read of <paramref name="topic"/>'s stream after <paramref name="after"/>. A range left out (cut to
    /// what the hub can hold, or trimmed by <c>MAXLEN ~</c>, which a stored entry's previous number shows) is delivered as the
    /// hole it is: the hub ends the streams that read across it, and their resumes say so.</summary>
    private int Deliver(string topic, long after, (List<StoredEntry> Entries, bool Trimmed) read)
    {
        var (entries, trimmed) = read;
        if (entries.Count == 0) return 0;
        var previous = entries[0].Previous >= 0 ? Math.Max(after, entries[0].Previous) : trimmed ? entries[0].Sequence - 1 : after;
        if (previous > after)
        {
            Log.LogWarning("Redis backplane for topic {Topic}: events of topic {Name} after {After} up to {Previous} are no longer in Redis; the streams that read it resume (resync)", Topic, topic, after, previous);
        }
        var delivered = 0;
        foreach (var (seq, evt, _) in entries)
        {
            if (evt is not { } e) continue;
            _sink!.Deliver(seq, previous, topic, e.Event);
            previous = seq;
            delivered++;
        }
        return delivered;
    }

    /// <summary>A new epoch means Redis lost its data. Numbers that went backwards end this hub's open streams (clients resynchronise).
    /// An epoch once left is never returned to: late messages of it are dropped. False when the message is of such an epoch.</summary>
    private bool ObserveEpoch(string epoch, long seq)
    {
        if (_epoch == epoch) return true;
        if (_retiredEpochs.Contains(epoch))
        {
            Log.LogInformation("Redis backplane for topic {Topic}: a late message of a lost epoch (number {Sequence}) is dropped", Topic, seq);
            return false;
        }
        var known = _epoch;
        _epoch = epoch;
        if (known is null) return true;
        _retiredEpochs.Add(known);
        BackplaneTelemetry.EpochChanges.Add(1);
        Log.LogWarning("Redis backplane for topic {Topic}: Redis lost its data (new epoch)", Topic);
        if (seq <= Head)
        {
            Volatile.Write(ref _attachedAt, 0);
            _sink!.Reset(seq - 1);
        }
        // The listener sets went with the data: ask for every topic again.
        HoldAndRelisten();
        return true;
    }

    private async Task<bool> TryFillLockedAsync(string topic, long after, long through)
    {
        try
        {
            await FillLockedAsync(topic, after, through);
            return true;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Log.LogWarning(e, "Redis backplane for topic {Topic}: could not read missed events from the stream; retrying with the next message or check", Topic);
            return false;
        }
    }

    /// <summary>Delivers the stored events of <paramref name="topic"/> numbered after <paramref name="after"/> up to
    /// <paramref name="through"/>. Only the newest the hub can hold matter: older ones are skipped (a gap its subscribers resume
    /// across), so a huge gap costs one ring's worth of reads.</summary>
    private async Task FillLockedAsync(string topic, long after, long through)
    {
        var read = await ReadNewestAsync(TopicStream(topic), after, through, _sink!.Capacity);
        if (read.Trimmed)
        {
            var skipped = read.Entries.Count == 0 ? 0 : read.Entries[0].Sequence - 1 - after;
            BackplaneTelemetry.SkippedEvents.Add(skipped);
            Log.LogWarning("Redis backplane for topic {Topic}: events were missed beyond what the hub can hold; only the newest {Capacity} are read", Topic, _sink.Capacity);
        }
        var delivered = Deliver(topic, after, read);
        BackplaneTelemetry.RepairedEvents.Add(delivered);
        Log.LogInformation("Redis backplane for topic {Topic}: {Count} events missed on pub/sub were read from the stream", Topic, delivered);
    }

    // ---- Listening by topic -----------------------------------------------------------------------------------------

    /// <inheritdoc />
    public bool Listen(string topic, long after)
    {
        ArgumentNullException.ThrowIfNull(topic);
        lock (_interest)
        {
            if (_listened.TryGetValue(topic, out var listened)) return listened.Ready;
            _listened[topic] = new Listened(after);
            _toStop.Remove(topic);
            _toListen.Add(topic);
        }
        SignalInterest();
        return false;
    }

    /// <inheritdoc />
    public void SubscribersChanged(string topic, int count)
    {
        _presenceDirty[topic] = count;
        if (count > 0) _presence[topic] = count;
        else _presence.TryRemove(topic, out _);
        lock (_interest)
        {
            if (_listened.TryGetValue(topic, out var listened)) listened.IdleSince = count > 0 ? 0 : Environment.TickCount64;
        }
    }

    private void SignalInterest()
    {
        if (Interlocked.Exchange(ref _interestSignaled, 1) == 0) _interestSignal.Release();
    }

    /// <summary>Sends what changed in batches, one script each: a resubscribe of thousands of topics is a handful of commands.</summary>
    private async Task InterestLoopAsync()
    {
        const int BatchSize = 500;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await _interestSignal.WaitAsync(_stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Volatile.Write(ref _interestSignaled, 0);
            while (!_stopping.IsCancellationRequested)
            {
                string[] listen, stop;
                lock (_interest)
                {
                    listen = [.. _toListen.Take(BatchSize)];
                    stop = [.. _toStop.Take(BatchSize - listen.Length)];
                    foreach (var t in listen) _toListen.Remove(t);
                    foreach (var t in stop) _toStop.Remove(t);
                }
                if (listen.Length + stop.Length == 0) break;
                try
                {
                    await SendInterestAsync(listen, stop, marker: true);
                }
                catch (Exception e) when (e is RedisException or TimeoutException or BackplaneUnavailableException)
                {
                    lock (_interest)
                    {
                        foreach (var t in listen)
                            if (_listened.ContainsKey(t)) _toListen.Add(t);
                        foreach (var t in stop)
                            if (!_listened.ContainsKey(t)) _toStop.Add(t);
                    }
                    try
                    {
                        await Task.Delay(CheckInterval, _stopping.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }
    }

    private async Task SendInterestAsync(string[] listen, string[] stop, bool marker)
    {
        var batch = marker && listen.Length > 0 ? Interlocked.Increment(ref _nextBatch) : 0;
        if (batch > 0)
        {
            var now = Environment.TickCount64;
            lock (_interest)
            {
                foreach (var t in listen)
                {
                    if (!_listened.TryGetValue(t, out var listened)) continue;
                    listened.Batch = batch;
                    listened.SentAt = now;
                }
            }
            _batches[batch] = listen;
        }
        var keys = new RedisKey[2 + listen.Length + stop.Length];
        var values = new RedisValue[6 + listen.Length + stop.Length];
        keys[0] = _instancesKey;
        keys[1] = _sequenceKey;
        values[0] = _instance;
        values[1] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        values[2] = KeyLifeSeconds;
        values[3] = _instanceChannel.ToString();
        values[4] = batch > 0 ? batch : "";
        values[5] = _publishCommand;
        var i = 0;
        foreach (var t in listen)
        {
            keys[2 + i] = Listeners(t);
            values[6 + i++] = "+";
        }
        foreach (var t in stop)
        {
            keys[2 + i] = Listeners(t);
            values[6 + i++] = "-";
        }
        try
        {
            var result = (RedisResult[])(await _redis.GetDatabase().ScriptEvaluateAsync(ListenScript, keys, values).WaitAsync(PublishTimeout))!;
            RaiseFloor((long)result[0]);
            Registered((long)result[1] == 1);
        }
        catch
        {
            if (batch > 0) _batches.TryRemove(batch, out _);
            throw;
        }
    }

    /// <summary>Events may have been missed for every listened topic (the pub/sub connection dropped, Redis lost its data, or
    /// this instance was taken for dead): hold their streams and ask for every topic again; each catches up from its stream.</summary>
    private void HoldAndRelisten()
    {
        lock (_interest)
        {
            if (_listened.Count == 0) return;
            foreach (var (topic, listened) in _listened)
            {
                listened.Ready = false;
                listened.Batch = 0;
                _toListen.Add(topic);
            }
        }
        _sink?.Hold();
        SignalInterest();
    }

    /// <summary>Stops listening to topics without subscribers for <see cref="Linger"/>; asks again for topics whose batch's
    /// marker never came (sent while the pub/sub connection was down).</summary>
    private void SweepInterest()
    {
        var now = Environment.TickCount64;
        var linger = (long)Linger.TotalMilliseconds;
        var timeout = Math.Max(3000, 3 * (long)CheckInterval.TotalMilliseconds);
        List<string>? idle = null;
        var resend = false;
        lock (_interest)
        {
            foreach (var (topic, listened) in _listened)
            {
                if (listened.IdleSince != 0 && now - listened.IdleSince >= linger) (idle ??= []).Add(topic);
                if (!listened.Ready && listened.Batch != 0 && now - listened.SentAt >= timeout)
                {
                    listened.Batch = 0;
                    _toListen.Add(topic);
                    resend = true;
                }
            }
        }
        foreach (var topic in idle ?? [])
        {
            // The hub agrees under its lock (no subscriber came back); one that comes back later asks again.
            if (!_sink!.StopListening(topic)) continue;
            lock (_interest)
            {
                if (!_listened.TryGetValue(topic, out var listened) || listened.IdleSince == 0) continue;
                _listened.Remove(topic);
                _toListen.Remove(topic);
                _toStop.Add(topic);
                resend = true;
            }
        }
        // Markers that will never be needed (every topic of their batch was asked for again, or left): forgotten, so batches
        // lost with a dropped pub/sub connection do not pile up.
        foreach (var (id, topics) in _batches)
        {
            bool needed;
            lock (_interest) needed = topics.Any(t => _listened.TryGetValue(t, out var l) && l.Batch == id);
            if (!needed) _batches.TryRemove(id, out _);
        }
        if (resend) SignalInterest();
    }

    /// <summary>Every listened topic again (no marker): the listener sets never expire under a live instance.</summary>
    private async Task RefreshInterestAsync()
    {
        string[] all;
        lock (_interest) all = [.. _listened.Keys];
        foreach (var chunk in all.Chunk(500)) await SendInterestAsync(chunk, [], marker: false);
    }

    // ---- Presence and checks ----------------------------------------------------------------------------------------

    /// <inheritdoc />
    /// <remarks>One script on Redis: every live instance's count (heartbeats within <see cref="PresenceTtl"/>) plus this one's.
    /// Other instances' counts are at most one heartbeat old.</remarks>
    public async Task<long> CountSubscribersAsync(string topic, long local)
    {
        var result = await _redis.GetDatabase().ScriptEvaluateAsync(CountScript, [_presencePrefix.Append(topic), _instancesKey],
            [DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), (long)PresenceTtl.TotalMilliseconds, _instance, local]).WaitAsync(PublishTimeout);
        return (long)result;
    }

    /// <summary>This instance is alive, and its changed counts: one pipelined batch per heartbeat, whatever the topic count.</summary>
    private async Task HeartbeatAsync()
    {
        if (_heartbeatSuspended) return;
        var db = _redis.GetDatabase();
        var batch = db.CreateBatch();
        var now = Environment.TickCount64;
        var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // Instances silent for a key life are gone (an instance that died without disposing its backplane): the set stays small.
        var pruned = batch.SortedSetRemoveRangeByScoreAsync(_instancesKey, double.NegativeInfinity, nowMs - KeyLifeSeconds * 1000);
        // The lease: added again means taken for dead meanwhile (by a publisher that found it silent, or pruned), however long
        // ago — its listener entries were removed, so it listens again. Nothing here depends on a key outliving the stall.
        var added = batch.SortedSetAddAsync(_instancesKey, _instance, nowMs);
        var writes = new List<Task> { pruned, added };
        var sent = new List<KeyValuePair<string, int>>();
        foreach (var topic in _presenceDirty.Keys)
            if (_presenceDirty.TryRemove(topic, out var count)) sent.Add(new(topic, count));
        // Every RefreshPeriod, every count again: the hashes live four refreshes past the last write.
        var full = now - Volatile.Read(ref _lastFullPresence) >= (long)RefreshPeriod.TotalMilliseconds;
        var written = full ? sent.Where(p => p.Value == 0).Concat(_presence).ToList() : sent;
        var keyLife = TimeSpan.FromSeconds(KeyLifeSeconds);
        foreach (var (topic, count) in written)
        {
            var key = _presencePrefix.Append(topic);
            writes.Add(count > 0 ? batch.HashSetAsync(key, _instance, count) : batch.HashDeleteAsync(key, _instance));
            writes.Add(batch.KeyExpireAsync(key, keyLife));
        }
        batch.Execute();
        try
        {
            await Task.WhenAll(writes).WaitAsync(PublishTimeout);
            if (full) Volatile.Write(ref _lastFullPresence, now);
        }
        catch
        {
            // Not written: they go with the next heartbeat, unless they changed again meanwhile.
            foreach (var (topic, count) in sent) _presenceDirty.TryAdd(topic, count);
            throw;
        }
        Registered(await added);
        if (now - Volatile.Read(ref _lastInterestRefresh) >= (long)RefreshPeriod.TotalMilliseconds)
        {
            await RefreshInterestAsync();
            Volatile.Write(ref _lastInterestRefresh, now);
        }
    }

    /// <summary>This instance's entry in the hub's instances was written: the first time it is new; after that, new means this
    /// instance was taken for dead in between (its listener entries are gone): it listens again and rewrites its presence.</summary>
    private void Registered(bool added)
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0 || !added) return;
        Log.LogWarning("Redis backplane for topic {Topic}: this instance was taken for dead (no heartbeat within {Ttl}); listening again", Topic, PresenceTtl);
        Volatile.Write(ref _lastFullPresence, 0);
        HoldAndRelisten();
    }

    /// <summary>For tests: this instance stops heartbeating, as if it died.</summary>
    internal void SuspendHeartbeat() => _heartbeatSuspended = true;

    /// <summary>For tests: this instance's id in Redis.</summary>
    internal string InstanceId => _instance;

    /// <summary>For tests: this instance heartbeats again (as after a long pause).</summary>
    internal void ResumeHeartbeat() => _heartbeatSuspended = false;

    /// <summary>Heartbeat and presence; listening changes; then the default topic's messages pub/sub lost silently (a dropped
    /// subscriber connection, a lost tail), found by comparing its stream's newest number; and a stored number found behind what
    /// was delivered (Redis restored from an older snapshot) is raised.</summary>
    private async Task CheckAsync()
    {
        try
        {
            await HeartbeatAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Redis is unreachable: the next heartbeat writes what changed meanwhile (counts are kept until written).
        }
        if (_stopping.IsCancellationRequested) return;
        SweepInterest();
        if (_messages is null || !await _order.WaitAsync(0)) return;
        try
        {
            var db = _redis.GetDatabase();
            var values = db.StringGetAsync([_sequenceKey, _epochKey]);
            var newest = db.StreamRangeAsync(_streamKey, "-", "+", 1, Order.Descending);
            await Task.WhenAll(values, newest).WaitAsync(PublishTimeout);
            var stored = values.Result[0].HasValue ? (long)values.Result[0] : 0;
            if (values.Result[1].HasValue) ObserveEpoch((string)values.Result[1]!, stored);
            var floor = Floor;
            RaiseFloor(stored);
            var newestDefault = newest.Result.Length == 0 ? 0 : Entries(newest.Result) is [var only] ? only.Sequence : 0;
            var defaultHead = DefaultHead;
            if (newestDefault > defaultHead) await FillLockedAsync("", defaultHead, newestDefault);
            if (stored < floor && values.Result[1].HasValue)
            {
                Log.LogWarning("Redis backplane for topic {Topic}: Redis's sequence ({Stored}) is behind the numbers it gave this instance ({Floor}), as after a restore from an older snapshot; numbering continues after {Floor}", Topic, stored, floor, floor);
                await db.ScriptEvaluateAsync(FloorScript, [_sequenceKey], [floor]).WaitAsync(PublishTimeout);
            }
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Redis is unreachable: open streams stay open (with pings); the next check repairs what was missed.
        }
        finally
        {
            _order.Release();
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        _ = CheckAsync();
        if (e.ConnectionType == ConnectionType.Subscription) HoldAndRelisten();
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        // Messages published while it is down never arrive: hold the listened topics' streams until each has caught up.
        if (e.ConnectionType == ConnectionType.Subscription) HoldAndRelisten();
    }

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
