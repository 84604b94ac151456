using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>Presence and checks: the heartbeat (this instance's lease in the instances set, its subscriber counts), counting every
/// instance's subscribers, and the periodic check that repairs the default topic and a sequence behind the floor.</summary>
public sealed partial class RedisBackplane
{
    /// <inheritdoc />
    /// <remarks>One script on Redis: every live instance's count (heartbeats within <see cref="PresenceTtl"/>) plus this one's.
    /// Other instances' counts are at most one heartbeat old.</remarks>
    public async Task<long> CountSubscribersAsync(string topic, long local)
    {
        var result = await _redis.GetDatabase().ScriptEvaluateAsync(CountScript, [_presencePrefix.Append(topic), _instancesKey],
            [DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), (long)PresenceTtl.TotalMilliseconds, _instance, local]).WaitAsync(PublishTimeout);
        return (long)result;
    }

    private int _leaseLost;

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
        // The lease: renewed only if this instance is still among the instances (XX). Gone means taken for dead meanwhile (by a
        // publisher that found it silent, or pruned), however long ago — its listener entries were removed, so it listens
        // again. A heartbeat that reached Redis after its reply timed out here can therefore never put the entry back unseen
        // (found by the property tests: an instance stalled past PresenceTtl never learned it had been dropped). Nothing
        // here depends on a key outliving the stall.
        var renewed = batch.SortedSetUpdateAsync(_instancesKey, _instance, nowMs, SortedSetWhen.Exists);
        var writes = new List<Task> { pruned, renewed };
        var sent = new List<KeyValuePair<string, int>>();
        foreach (var topic in _presenceDirty.Keys)
            if (_presenceDirty.TryRemove(topic, out var count)) sent.Add(new(topic, count));
        // Every RefreshPeriod, every count again: the hashes live four refreshes past the last write.
        var full = now - Volatile.Read(ref _lastFullPresence) >= (long)RefreshPeriod.TotalMilliseconds;
        var written = full ? sent.Where(p => p.Value == 0).Concat(_presence).ToList() : sent;
        var keyLife = TimeSpan.FromSeconds(KeyLifeSeconds);
        foreach (var (topic, count) in written)
        {
            // A stream that opened and closed between two heartbeats (a flood of short requests) writes nothing.
            if (count == 0 && !_presenceWritten.ContainsKey(topic)) continue;
            var key = _presencePrefix.Append(topic);
            writes.Add(count > 0 ? batch.HashSetAsync(key, _instance, count) : batch.HashDeleteAsync(key, _instance));
            writes.Add(batch.KeyExpireAsync(key, keyLife));
        }
        batch.Execute();
        try
        {
            await Task.WhenAll(writes).WaitAsync(PublishTimeout);
            if (full) Volatile.Write(ref _lastFullPresence, now);
            foreach (var (topic, count) in written)
                if (count > 0) _presenceWritten[topic] = 0;
                else _presenceWritten.TryRemove(topic, out _);
        }
        catch
        {
            // Not written: they go with the next heartbeat, unless they changed again meanwhile.
            foreach (var (topic, count) in sent) _presenceDirty.TryAdd(topic, count);
            throw;
        }
        // Lost: added back, then listening again — remembered until the add is seen to succeed, so a reply lost on the way
        // cannot hide it either.
        if (!await renewed) Volatile.Write(ref _leaseLost, 1);
        if (Volatile.Read(ref _leaseLost) == 1)
        {
            await db.SortedSetAddAsync(_instancesKey, _instance, nowMs).WaitAsync(PublishTimeout);
            Volatile.Write(ref _leaseLost, 0);
            Registered(true);
        }
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
    /// subscriber connection, a lost tail), found by comparing its stream's newest number; and the hub's epoch settled: a Redis
    /// that restarted, lost its data or was restored from an older snapshot begins a new one (Scripts/hub.lua).</summary>
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
            // The epoch settled (a Redis that restarted, lost its data or is behind a number it gave this instance begins a new
            // one, Scripts/hub.lua), and the default topic's newest entry.
            var settled = db.ScriptEvaluateAsync(CheckScript, [_sequenceKey, _epochKey, _sinceKey, _runKey], [Guid.NewGuid().ToString("N"), Floor, KnownEpoch]);
            var newest = db.StreamRangeAsync(_streamKey, "-", "+", 1, Order.Descending);
            await Task.WhenAll(settled, newest).WaitAsync(PublishTimeout);
            var result = (RedisResult[])settled.Result!;
            var (epoch, stored, since) = ((string)result[0]!, (long)result[1], (long)result[2]);
            if ((long)result[3] == 1 && since > 0)
                Log.LogWarning("Redis backplane for topic {Topic}: Redis restarted, lost its data or is behind the numbers it gave; a new epoch begins after {Since}, and resumes from before it say resync", Topic, since);
            ObserveEpoch(epoch, stored);
            RaiseFloor(stored);
            var newestDefault = newest.Result.Length == 0 ? 0 : Entries(newest.Result) is [var only] ? only.Sequence : 0;
            var defaultHead = DefaultHead;
            if (newestDefault > defaultHead) await FillLockedAsync("", defaultHead, newestDefault);
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
}
