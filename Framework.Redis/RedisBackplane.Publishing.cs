using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>Publishing: batches of publishes, one script each, in order on one connection; the publish floor.
/// Owns _waiting, _inFlight, _closed (under _sending) and _floor (interlocked): numbering never goes at or below the highest
/// number Redis ever returned to this instance.</summary>
public sealed partial class RedisBackplane
{
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

    /// <inheritdoc />
    /// <remarks>Compared and published in the same script as every publish: atomic across instances.</remarks>
    public Task<long> PublishAsync(string topic, ServerEvent evt, long expectedLastId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedLastId);
        return PublishCoreAsync(topic, evt, null, cancellationToken, expectedLastId);
    }

    /// <inheritdoc />
    public async Task<long> ReadTopicLastAsync(string topic, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        var newest = await _redis.GetDatabase().StreamRangeAsync(TopicStream(topic), "-", "+", count: 1, messageOrder: Order.Descending).WaitAsync(cancellationToken);
        return newest.Length == 0 ? 0 : long.Parse(((string)newest[0].Id!).AsSpan(0, ((string)newest[0].Id!).IndexOf('-')), CultureInfo.InvariantCulture);
    }

    private async Task<long> PublishCoreAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken, long expected = -1)
    {
        ArgumentNullException.ThrowIfNull(evt);
        _ = _sink ?? throw new InvalidOperationException("Give this backplane to an EventHub before publishing: new EventHub(backplane: ...).");
        var pending = new Pending(topic, EventCodec.Encode(evt, topic), idempotencyKey, expected);
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
    private sealed class Pending(string topic, string payload, string? key, long expected)
    {
        public readonly string Topic = topic;
        public readonly string Payload = payload;
        public readonly string? Key = key;
        public readonly long Expected = expected;
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
            for (var i = 0; i < batch.Count; i++)
            {
                var number = (long)numbers[i];
                if (number < 0) batch[i].Done.TrySetException(new PublishConflictException(batch[i].Topic, batch[i].Expected, -1 - number));
                else batch[i].Done.TrySetResult(number);
            }
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
        var keys = new RedisKey[6 + 3 * batch.Count];
        var values = new RedisValue[9 + 5 * batch.Count];
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
        values[8] = KnownEpoch;
        var retention = Math.Max(1, (long)TopicStreamRetention.TotalSeconds);
        for (var i = 0; i < batch.Count; i++)
        {
            var p = batch[i];
            var named = p.Topic.Length != 0;
            var stream = TopicStream(p.Topic);
            keys[3 + 3 * i] = stream;
            keys[4 + 3 * i] = named ? Listeners(p.Topic) : stream;
            keys[5 + 3 * i] = p.Key is null ? stream : _idempotencyPrefix.Append(p.Key);
            values[9 + 5 * i] = p.Payload;
            values[10 + 5 * i] = named ? TopicStreamMaxLength : StreamMaxLength;
            values[11 + 5 * i] = named ? retention : "";
            values[12 + 5 * i] = p.Key is null ? "" : "1";
            values[13 + 5 * i] = p.Expected < 0 ? "" : p.Expected;
        }
        keys[^3] = _sinceKey;
        keys[^2] = _runKey;
        keys[^1] = _horizonKey;
        return _redis.GetDatabase().ScriptEvaluateAsync(PublishScript, keys, values);
    }

    /// <summary>The epoch this instance knows ('' before it knew one): a script that finds another, begun by an instance that
    /// never knew the hub, begins a new one (Scripts/hub.lua).</summary>
    private string KnownEpoch => Volatile.Read(ref _epoch) ?? "";

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
}
