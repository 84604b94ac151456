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
/// Write path: one prepared Lua script per publish (next number, <c>XADD … MAXLEN ~</c>, <c>PUBLISH</c>), one round trip.
/// Read path: one pub/sub subscription per instance delivers every event, its own included; a number that skips ahead, or a
/// stored number ahead of the last delivered one (checked every second and on reconnect), is filled from the stream with
/// <c>XRANGE</c>. Two Redis connections per instance (the multiplexer's), whatever the number of subscribers.
/// </remarks>
public sealed class RedisBackplane : IEventBackplane
{
    // KEYS: sequence, stream, epoch. ARGV: payload, max length, epoch candidate, floor, channel.
    // An epoch stored beside the sequence tells a Redis that lost its data. Numbering never goes at or below the publisher's
    // floor (the last number it saw): not after a data loss (a new epoch), nor after a restore from an older snapshot (the
    // same epoch, a lower sequence), so a number is never given twice and every instance delivers what is published.
    // KEYS[4] (optional): the idempotency key; ARGV[6]: how long it is remembered (seconds).
    private const string PublishScript = """
        if KEYS[4] then
          local first = redis.call('GET', KEYS[4])
          if first then return tonumber(first) end
        end
        local epoch = redis.call('GET', KEYS[3])
        if not epoch then
          epoch = ARGV[3]
          redis.call('SET', KEYS[3], epoch)
        end
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        local floor = tonumber(ARGV[4])
        if floor > current then redis.call('SET', KEYS[1], floor) end
        local n = redis.call('INCR', KEYS[1])
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], n .. '-0', 'e', ARGV[1])
        redis.call('PUBLISH', ARGV[5], epoch .. '|' .. n .. '|' .. ARGV[1])
        if KEYS[4] then redis.call('SET', KEYS[4], n, 'EX', ARGV[6]) end
        return n
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly bool _ownsConnection;
    private readonly RedisKey _sequenceKey;
    private readonly RedisKey _streamKey;
    private readonly RedisKey _epochKey;
    private readonly RedisKey _idempotencyPrefix;
    private readonly RedisChannel _channel;
    // KEYS: sequence. ARGV: floor. Raises a sequence found behind what was already delivered (a restore from an older snapshot).
    private const string FloorScript = """
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        local floor = tonumber(ARGV[1])
        if floor > current then redis.call('SET', KEYS[1], floor) end
        return current
        """;

    // Presence. KEYS: the topic's hash (instance → count), the hub's instances (sorted by last heartbeat). ARGV: now (ms),
    // how long a silent instance still counts (ms), this instance (its own count is the caller's, given as ARGV[4]).
    // Fields of instances silent past the TTL are dropped as they are found.
    private const string CountScript = """
        local now = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local total = tonumber(ARGV[4])
        local all = redis.call('HGETALL', KEYS[1])
        for i = 1, #all, 2 do
          if all[i] ~= ARGV[3] then
            local seen = redis.call('ZSCORE', KEYS[2], all[i])
            if seen and tonumber(seen) > now - ttl then total = total + tonumber(all[i + 1])
            else redis.call('HDEL', KEYS[1], all[i]) end
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
    private readonly CancellationTokenSource _stopping = new();
    private ILogger? _log;
    private ChannelMessageQueue? _messages;
    private IEventBackplaneSink? _sink;
    private string? _epoch;
    private Task? _pump;
    private Timer? _check;
    private byte[]? _scriptHash;

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
        // One hash tag keeps a topic's keys on one cluster slot, as the script needs.
        var prefix = $"bocata:{{{topic}}}:";
        _sequenceKey = prefix + "seq";
        _streamKey = prefix + "stream";
        _epochKey = prefix + "epoch";
        _idempotencyPrefix = prefix + "once:";
        _instancesKey = prefix + "instances";
        _presencePrefix = prefix + "presence:";
        _channel = RedisChannel.Literal(prefix + "events");
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

    /// <summary>How long a silent instance's subscribers still count in <c>CountSubscribersAsync</c> (default 15 s): an
    /// instance that died stops counting within this time plus a heartbeat (<see cref="CheckInterval"/>).</summary>
    public TimeSpan PresenceTtl { get; init; } = TimeSpan.FromSeconds(15);

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
            _messages = _redis.GetSubscriber().Subscribe(_channel);
            var values = _redis.GetDatabase().StringGet([_sequenceKey, _epochKey]);
            _epoch = values[1].HasValue ? (string?)values[1] : null;
            _attachedAt = values[0].HasValue ? (long)values[0] : 0;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The pump subscribes when Redis answers, and its first check reads what was published meanwhile.
            _messages = null;
            Log.LogWarning(e, "Redis backplane for topic {Topic}: Redis is unreachable at startup; publishing fails until it answers, then this instance catches up", Topic);
        }
        _pump = Task.Run(PumpAsync);
        _check = new Timer(static s => _ = ((RedisBackplane)s!).CheckAsync(), this, CheckInterval, CheckInterval);
        _redis.ConnectionRestored += OnConnectionRestored;
        return _attachedAt;
    }

    /// <inheritdoc />
    public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default) => PublishCoreAsync("", evt, null, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Every topic of the hub travels on its one channel and stream (the event carries its topic); each instance keeps
    /// the topics it receives.</remarks>
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

    private async Task<long> PublishCoreAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        _ = _sink ?? throw new InvalidOperationException("Give this backplane to an EventHub before publishing: new EventHub(backplane: ...).");
        RedisKey[] keys = idempotencyKey is null ? [_sequenceKey, _streamKey, _epochKey] : [_sequenceKey, _streamKey, _epochKey, _idempotencyPrefix.Append(idempotencyKey)];
        RedisValue[] values = [EventCodec.Encode(evt, topic), StreamMaxLength, Guid.NewGuid().ToString("N"), Head, _channel.ToString(), Math.Max(1, (long)IdempotencyWindow.TotalSeconds)];
        try
        {
            return (long)await EvaluateAsync(keys, values).WaitAsync(PublishTimeout, cancellationToken);
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

    /// <summary>The script by its hash (EVALSHA: Redis runs the compiled script, the body is not resent); loaded again after a Redis restart.</summary>
    private async Task<RedisResult> EvaluateAsync(RedisKey[] keys, RedisValue[] values)
    {
        var db = _redis.GetDatabase();
        var hash = _scriptHash ??= await LoadScriptAsync();
        try
        {
            return await db.ScriptEvaluateAsync(hash, keys, values);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            _scriptHash = hash = await LoadScriptAsync();
            return await db.ScriptEvaluateAsync(hash, keys, values);
        }
    }

    private async Task<byte[]> LoadScriptAsync()
    {
        foreach (var endpoint in _redis.GetEndPoints())
        {
            var server = _redis.GetServer(endpoint);
            if (server.IsConnected && !server.IsReplica) return await server.ScriptLoadAsync(PublishScript);
        }
        throw new BackplaneUnavailableException($"No connected Redis primary to publish to topic '{Topic}': check that Redis is reachable.");
    }

    /// <inheritdoc />
    /// <remarks>Read in pages of <see cref="PageSize"/> entries; an entry that cannot be decoded is logged and skipped.</remarks>
    public async Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default)
    {
        var events = new List<BackplaneEvent>();
        while (from <= to)
        {
            var page = await ReadPageAsync(from, to, cancellationToken);
            if (page.Count == 0) break;
            foreach (var entry in page)
                if (entry.Event is { } e) events.Add(new BackplaneEvent(entry.Sequence, e.Event) { Topic = e.Topic });
            from = page[^1].Sequence + 1;
        }
        return events;
    }

    /// <summary>Up to <see cref="PageSize"/> stream entries from <paramref name="from"/>; a null event is an entry that could not be decoded.</summary>
    private async Task<List<(long Sequence, (ServerEvent Event, string Topic)? Event)>> ReadPageAsync(long from, long to, CancellationToken cancellationToken = default)
    {
        var entries = await _redis.GetDatabase().StreamRangeAsync(_streamKey, $"{from}-0", $"{to}-0", PageSize).WaitAsync(PublishTimeout, cancellationToken);
        var page = new List<(long, (ServerEvent, string)?)>(entries.Length);
        foreach (var entry in entries)
        {
            var id = (string)entry.Id!;
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            if (!long.TryParse(id.AsSpan(0, dash < 0 ? id.Length : dash), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)) continue;
            page.Add((seq, Decode(seq, entry["e"])));
        }
        return page;
    }

    /// <summary>An entry written by another codec version or by hand is skipped as a gap, never a stop of delivery.</summary>
    private (ServerEvent Event, string Topic)? Decode(long seq, RedisValue payload)
    {
        try
        {
            if (payload.IsNull) throw new InvalidDataException("The entry has no 'e' field.");
            return EventCodec.DecodeWithTopic(payload!);
        }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or ArgumentException)
        {
            Log.LogWarning(e, "Redis backplane for topic {Topic}: stream entry {Sequence} cannot be decoded and is skipped", Topic, seq);
            return null;
        }
    }

    /// <summary>Delivers pub/sub messages in order, one at a time; a skipped number is filled from the stream first.</summary>
    private async Task PumpAsync()
    {
        var messages = _messages ?? await SubscribeWhenReachableAsync();
        if (messages is null) return;
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
                var text = (string)message.Message!;
                var first = text.IndexOf('|', StringComparison.Ordinal);
                var second = first < 0 ? -1 : text.IndexOf('|', first + 1);
                if (second < 0 || !long.TryParse(text.AsSpan(first + 1, second - first - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                {
                    Log.LogWarning("Redis backplane for topic {Topic}: a pub/sub message is not one of ours and is ignored", Topic);
                    continue;
                }
                await HandleAsync(text[..first], seq, text[(second + 1)..]);
            }
            catch (Exception e) when (!_stopping.IsCancellationRequested)
            {
                Log.LogWarning(e, "Redis backplane for topic {Topic}: a message could not be delivered; the next check repairs the gap", Topic);
            }
        }
    }

    /// <summary>Redis was down when the hub attached: subscribe once it answers, then catch up on what was published meanwhile.</summary>
    private async Task<ChannelMessageQueue?> SubscribeWhenReachableAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                _messages = await _redis.GetSubscriber().SubscribeAsync(_channel);
                Log.LogInformation("Redis backplane for topic {Topic}: Redis answers; catching up", Topic);
                _ = CheckAsync();
                return _messages;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                try
                {
                    await Task.Delay(CheckInterval, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }
        return null;
    }

    /// <summary>The last number delivered to the hub (or the one it attached at, before it took over).</summary>
    private long Head => Math.Max(_sink!.LastSequence, Volatile.Read(ref _attachedAt));

    private async Task HandleAsync(string epoch, long seq, string payload)
    {
        await _order.WaitAsync(_stopping.Token);
        try
        {
            var sink = _sink!;
            if (!ObserveEpoch(epoch, seq)) return;
            var head = Head;
            if (seq <= head) return;
            if (seq > head + 1) await FillLockedAsync(head + 1, seq - 1);
            if (seq > sink.LastSequence && Decode(seq, payload) is { } evt) sink.Deliver(seq, evt.Topic, evt.Event);
        }
        finally
        {
            _order.Release();
        }
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
        return true;
    }

    /// <summary>Delivers the stored events <paramref name="from"/>..<paramref name="to"/> in pages. Only the newest the hub can hold
    /// matter: older ones are skipped (a gap its subscribers resume across), so a huge gap costs one ring's worth of reads.</summary>
    private async Task FillLockedAsync(long from, long to)
    {
        var capacity = _sink!.Capacity;
        if (to - from + 1 > capacity)
        {
            BackplaneTelemetry.SkippedEvents.Add(to - from + 1 - capacity);
            Log.LogWarning("Redis backplane for topic {Topic}: {Count} events were missed; only the newest {Capacity} are read", Topic, to - from + 1 - capacity, capacity);
            from = to - capacity + 1;
        }
        var delivered = 0;
        while (from <= to)
        {
            var page = await ReadPageAsync(from, to);
            if (page.Count == 0) break;
            foreach (var (seq, evt) in page)
            {
                if (evt is { } e && seq > _sink.LastSequence)
                {
                    _sink.Deliver(seq, e.Topic, e.Event);
                    delivered++;
                }
            }
            from = page[^1].Sequence + 1;
        }
        BackplaneTelemetry.RepairedEvents.Add(delivered);
        Log.LogInformation("Redis backplane for topic {Topic}: {Count} events missed on pub/sub were read from the stream", Topic, delivered);
    }

    /// <summary>Finds messages pub/sub lost silently (a dropped subscriber connection, a lost tail) by comparing the stored number;
    /// raises a stored number found behind what was delivered (Redis restored from an older snapshot).</summary>
    /// <inheritdoc />
    public void SubscribersChanged(string topic, int count)
    {
        _presenceDirty[topic] = count;
        if (count > 0) _presence[topic] = count;
        else _presence.TryRemove(topic, out _);
    }

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
        var writes = new List<Task> { batch.SortedSetAddAsync(_instancesKey, _instance, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) };
        var sent = new List<KeyValuePair<string, int>>();
        foreach (var topic in _presenceDirty.Keys)
            if (_presenceDirty.TryRemove(topic, out var count)) sent.Add(new(topic, count));
        // Every PresenceTtl, every count again: the hashes live PresenceTtl * 4 past the last write.
        var full = now - Volatile.Read(ref _lastFullPresence) >= (long)PresenceTtl.TotalMilliseconds;
        var written = full ? sent.Where(p => p.Value == 0).Concat(_presence).ToList() : sent;
        foreach (var (topic, count) in written)
        {
            var key = _presencePrefix.Append(topic);
            writes.Add(count > 0 ? batch.HashSetAsync(key, _instance, count) : batch.HashDeleteAsync(key, _instance));
            writes.Add(batch.KeyExpireAsync(key, PresenceTtl * 4));
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
    }

    /// <summary>For tests: this instance stops heartbeating, as if it died.</summary>
    internal void SuspendHeartbeat() => _heartbeatSuspended = true;

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
        if (_stopping.IsCancellationRequested || _messages is null || !await _order.WaitAsync(0)) return;
        try
        {
            var db = _redis.GetDatabase();
            var values = await db.StringGetAsync([_sequenceKey, _epochKey]).WaitAsync(PublishTimeout);
            var stored = values[0].HasValue ? (long)values[0] : 0;
            if (values[1].HasValue) ObserveEpoch((string)values[1]!, stored);
            var head = Head;
            if (stored > head) await FillLockedAsync(head + 1, stored);
            else if (stored < head && values[1].HasValue)
            {
                Log.LogWarning("Redis backplane for topic {Topic}: Redis's sequence ({Stored}) is behind this hub ({Head}), as after a restore from an older snapshot; numbering continues after {Head}", Topic, stored, head, head);
                await db.ScriptEvaluateAsync(FloorScript, [_sequenceKey], [head]).WaitAsync(PublishTimeout);
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

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _ = CheckAsync();

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
        if (_check is not null) await _check.DisposeAsync();
        if (_messages is not null) await _messages.UnsubscribeAsync();
        if (_pump is not null) await _pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
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

    public static readonly System.Diagnostics.Metrics.Counter<long> EpochChanges = Meter.CreateCounter<long>(
        "bocata.backplane.epoch_changes", "{change}", "Times Redis was found to have lost its data.");
}
