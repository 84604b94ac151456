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
    // An epoch stored beside the sequence tells a Redis that lost its data: a new epoch restarts numbering at the
    // publisher's floor (the last number it saw), so ids keep increasing wherever possible.
    private const string PublishScript = """
        local epoch = redis.call('GET', KEYS[3])
        if not epoch then
          epoch = ARGV[3]
          redis.call('SET', KEYS[3], epoch)
          local current = tonumber(redis.call('GET', KEYS[1]) or '0')
          local floor = tonumber(ARGV[4])
          if floor > current then redis.call('SET', KEYS[1], floor) end
        end
        local n = redis.call('INCR', KEYS[1])
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], n .. '-0', 'e', ARGV[1])
        redis.call('PUBLISH', ARGV[5], epoch .. '|' .. n .. '|' .. ARGV[1])
        return n
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly bool _ownsConnection;
    private readonly RedisKey _sequenceKey;
    private readonly RedisKey _streamKey;
    private readonly RedisKey _epochKey;
    private readonly RedisChannel _channel;
    private readonly SemaphoreSlim _order = new(1, 1);
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

    /// <summary>How long <see cref="PublishAsync"/> waits for Redis before it fails (default 2 s).</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>About how many events the Redis stream retains for resumption (<c>MAXLEN ~</c>; default 100,000).</summary>
    public int StreamMaxLength { get; init; } = 100_000;

    /// <summary>How often the stored sequence is compared with what was delivered, to repair pub/sub messages lost silently (default 1 s).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where to log repairs and faults.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    // Created once, on first use (LoggerFactory is set by an initializer, after the constructor).
    private ILogger Log => _log ??= LoggerFactory?.CreateLogger("Bocata.Redis") ?? NullLogger.Instance;

    /// <inheritdoc />
    public long Attach(IEventBackplaneSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
            throw new InvalidOperationException("This RedisBackplane already serves a hub: create one backplane per EventHub.");
        // Subscribe first, then read the stored number: everything after it is either queued or found by a check.
        _messages = _redis.GetSubscriber().Subscribe(_channel);
        var db = _redis.GetDatabase();
        var values = db.StringGet([_sequenceKey, _epochKey]);
        _epoch = values[1].HasValue ? (string?)values[1] : null;
        var last = values[0].HasValue ? (long)values[0] : 0;
        _pump = Task.Run(PumpAsync);
        _check = new Timer(static s => _ = ((RedisBackplane)s!).CheckAsync(), this, CheckInterval, CheckInterval);
        _redis.ConnectionRestored += OnConnectionRestored;
        return last;
    }

    /// <inheritdoc />
    public async Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        var sink = _sink ?? throw new InvalidOperationException("Give this backplane to an EventHub before publishing: new EventHub(backplane: ...).");
        RedisKey[] keys = [_sequenceKey, _streamKey, _epochKey];
        RedisValue[] values = [EventCodec.Encode(evt), StreamMaxLength, Guid.NewGuid().ToString("N"), sink.LastSequence, _channel.ToString()];
        try
        {
            return (long)await EvaluateAsync(keys, values).WaitAsync(PublishTimeout, cancellationToken);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"Redis did not confirm the publish to topic '{Topic}' within {PublishTimeout.TotalSeconds:0.###} s; the event may not have been published. Retry, or check that Redis is reachable.", e);
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
        throw new InvalidOperationException($"No connected Redis primary to publish to topic '{Topic}': check that Redis is reachable.");
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default)
    {
        if (to < from) return [];
        var entries = await _redis.GetDatabase().StreamRangeAsync(_streamKey, $"{from}-0", $"{to}-0").WaitAsync(PublishTimeout, cancellationToken);
        var events = new List<BackplaneEvent>(entries.Length);
        foreach (var entry in entries)
        {
            var seq = long.Parse(((string)entry.Id!).AsSpan(0, ((string)entry.Id!).IndexOf('-', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            events.Add(new BackplaneEvent(seq, EventCodec.Decode(entry["e"]!)));
        }
        return events;
    }

    /// <summary>Delivers pub/sub messages in order, one at a time; a skipped number is filled from the stream first.</summary>
    private async Task PumpAsync()
    {
        var messages = _messages!;
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
                var second = text.IndexOf('|', first + 1);
                var epoch = text[..first];
                var seq = long.Parse(text.AsSpan(first + 1, second - first - 1), CultureInfo.InvariantCulture);
                await HandleAsync(epoch, seq, text[(second + 1)..]);
            }
            catch (Exception e) when (!_stopping.IsCancellationRequested)
            {
                Log.LogWarning(e, "Redis backplane for topic {Topic}: a message could not be delivered; the next check repairs the gap", Topic);
            }
        }
    }

    private async Task HandleAsync(string epoch, long seq, string payload)
    {
        await _order.WaitAsync(_stopping.Token);
        try
        {
            var sink = _sink!;
            ObserveEpoch(epoch, seq);
            var head = sink.LastSequence;
            if (seq <= head) return;
            if (seq > head + 1) await FillLockedAsync(head + 1, seq - 1);
            if (seq > sink.LastSequence) sink.Deliver(seq, EventCodec.Decode(payload));
        }
        finally
        {
            _order.Release();
        }
    }

    /// <summary>A new epoch means Redis lost its data. Numbers that went backwards end this hub's open streams (clients resynchronise).</summary>
    private void ObserveEpoch(string epoch, long seq)
    {
        if (_epoch == epoch) return;
        var known = _epoch;
        _epoch = epoch;
        if (known is null) return;
        Log.LogWarning("Redis backplane for topic {Topic}: Redis lost its data (new epoch)", Topic);
        if (seq <= _sink!.LastSequence) _sink.Reset(seq - 1);
    }

    private async Task FillLockedAsync(long from, long to)
    {
        var missed = await ReadAsync(from, to);
        Log.LogInformation("Redis backplane for topic {Topic}: {Count} events missed on pub/sub were read from the stream", Topic, missed.Count);
        foreach (var (seq, evt) in missed)
            if (seq > _sink!.LastSequence) _sink.Deliver(seq, evt);
    }

    /// <summary>Finds messages pub/sub lost silently (a dropped subscriber connection, a lost tail) by comparing the stored number.</summary>
    private async Task CheckAsync()
    {
        if (_stopping.IsCancellationRequested || !await _order.WaitAsync(0)) return;
        try
        {
            var values = await _redis.GetDatabase().StringGetAsync([_sequenceKey, _epochKey]).WaitAsync(PublishTimeout);
            if (!values[0].HasValue) return;
            var stored = (long)values[0];
            if (values[1].HasValue) ObserveEpoch((string)values[1]!, stored);
            var head = _sink!.LastSequence;
            if (stored > head) await FillLockedAsync(head + 1, stored);
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
        await _stopping.CancelAsync();
        _redis.ConnectionRestored -= OnConnectionRestored;
        if (_check is not null) await _check.DisposeAsync();
        if (_messages is not null) await _messages.UnsubscribeAsync();
        if (_pump is not null) await _pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_ownsConnection) await _redis.DisposeAsync();
        _stopping.Dispose();
    }
}
