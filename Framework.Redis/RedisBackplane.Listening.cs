using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>Listening by topic: which topics this instance asks Redis for, in batches with a marker each; lingering; listening again
/// after a lost connection or a lost lease. Owns _listened, _toListen, _toStop (under _interest) and _batches.</summary>
public sealed partial class RedisBackplane
{
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

    /// <summary>A batch of topics asked for with a marker: what listen.lua found (the epoch's start; per topic, the newest number
    /// in its stream, or minus what an expired one may have held), set once the script answered (the marker may come first).</summary>
    private sealed class ListenBatch(string[] topics)
    {
        public string[] Topics { get; } = topics;

        public TaskCompletionSource<(long Since, long[] Newest)> Found { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <inheritdoc />
    public bool ListensByTopic => true;

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
        ListenBatch? sent = null;
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
            _batches[batch] = sent = new ListenBatch(listen);
        }
        var keys = new RedisKey[6 + 2 * (listen.Length + stop.Length)];
        var values = new RedisValue[10 + listen.Length + stop.Length];
        keys[0] = _instancesKey;
        keys[1] = _sequenceKey;
        keys[2] = _epochKey;
        keys[3] = _sinceKey;
        keys[4] = _runKey;
        keys[5] = _horizonKey;
        values[0] = _instance;
        values[1] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        values[2] = KeyLifeSeconds;
        values[3] = _instanceChannel.ToString();
        values[4] = batch > 0 ? batch : "";
        values[5] = _publishCommand;
        values[6] = Guid.NewGuid().ToString("N");
        values[7] = Floor;
        values[8] = KnownEpoch;
        values[9] = Math.Max(1, (long)TopicStreamRetention.TotalSeconds);
        var i = 0;
        foreach (var t in listen)
        {
            keys[6 + 2 * i] = Listeners(t);
            keys[7 + 2 * i] = TopicStream(t);
            values[10 + i++] = "+";
        }
        foreach (var t in stop)
        {
            keys[6 + 2 * i] = Listeners(t);
            keys[7 + 2 * i] = TopicStream(t);
            values[10 + i++] = "-";
        }
        try
        {
            var result = (RedisResult[])(await _redis.GetDatabase().ScriptEvaluateAsync(ListenScript, keys, values).WaitAsync(PublishTimeout))!;
            RaiseFloor((long)result[0]);
            Registered((long)result[1] == 1);
            // (The marker may have been handled already: it waits for this.)
            sent?.Found.TrySetResult(((long)result[2], [.. result.Skip(3).Select(r => (long)r)]));
        }
        catch
        {
            if (batch > 0) _batches.TryRemove(batch, out _);
            sent?.Found.TrySetCanceled();
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
        List<string>? lingering = null;
        var resend = false;
        lock (_interest)
        {
            foreach (var (topic, listened) in _listened)
            {
                if (listened.IdleSince != 0)
                {
                    if (now - listened.IdleSince >= linger) (idle ??= []).Add(topic);
                    else (lingering ??= []).Add(topic);
                }
                if (!listened.Ready && listened.Batch != 0 && now - listened.SentAt >= timeout)
                {
                    listened.Batch = 0;
                    _toListen.Add(topic);
                    resend = true;
                }
            }
        }
        // Lingering keeps a topic's recent events warm for a subscriber that comes back; a topic that never had an event here has
        // none to keep (a flood of made-up topic names): it stops at once, so its listener set leaves Redis with its streams.
        foreach (var topic in lingering ?? [])
            if (!_sink!.Holds(topic)) (idle ??= []).Add(topic);
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
        foreach (var (id, sent) in _batches)
        {
            bool needed;
            lock (_interest) needed = sent.Topics.Any(t => _listened.TryGetValue(t, out var l) && l.Batch == id);
            if (!needed && _batches.TryRemove(id, out _)) sent.Found.TrySetCanceled();
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
}
