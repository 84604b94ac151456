using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>The receive path: the pub/sub pumps, the wire format (epoch|number|previous|payload, one per line), markers, epochs.
/// One message at a time under _order, so each topic is delivered in its order and a gap is filled before what follows it.</summary>
public sealed partial class RedisBackplane
{
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
                ListenForDisconnects();
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
                if (previous > head)
                {
                    if (await FillBeforeAsync("", head, previous) is not { } filled) continue;
                    previous = filled;
                }
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
                if (previous > last)
                {
                    if (await FillBeforeAsync(evt.Topic, last, previous) is not { } filled) continue;
                    previous = filled;
                }
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
        if (!_batches.TryRemove(batch, out var sent)) return;
        // What listen.lua found, once its reply is here (the marker it published may arrive first); not found: asked again later.
        (long Since, long[] Newest) found;
        try
        {
            found = await sent.Found.Task.WaitAsync(PublishTimeout, _stopping.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            return;
        }
        await _order.WaitAsync(_stopping.Token);
        try
        {
            // Read concurrently (pipelined on one connection), delivered topic by topic: the topics' streams are held meanwhile.
            // Only a stream holding something newer than what this instance has is read; for the others, what listen.lua found
            // says whether events after it are gone (an expired stream, an older epoch).
            var reads = new List<(string Topic, long After, Task<((List<StoredEntry> Entries, bool Trimmed), long)> Read)>();
            for (var i = 0; i < sent.Topics.Length; i++)
            {
                var topic = sent.Topics[i];
                long from;
                lock (_interest)
                {
                    if (!_listened.TryGetValue(topic, out var listened) || listened.Batch != batch) continue;
                    from = listened.From;
                }
                var after = Math.Max(_sink!.TopicLast(topic), from);
                var newest = i < found.Newest.Length ? found.Newest[i] : long.MaxValue;
                var gone = Math.Max(found.Since, newest <= 0 ? -newest : 0);
                reads.Add((topic, after, newest > after && after < through
                    ? ReadCatchUpAsync(topic, after, through)
                    : Task.FromResult<((List<StoredEntry>, bool), long)>((([], false), gone))));
            }
            foreach (var (topic, after, read) in reads)
            {
                try
                {
                    var (entries, low) = await read;
                    if (entries.Entries.Count > 0) Deliver(topic, after, entries);
                    else if (low > after)
                    {
                        Log.LogWarning("Redis backplane for topic {Topic}: events of topic {Name} after {After} up to {Previous} are no longer in Redis; the streams that read it resume (resync)", Topic, topic, after, low);
                        _sink!.TopicHole(topic, low);
                    }
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

    /// <summary>A listened topic's events after <paramref name="after"/> up to <paramref name="through"/>; when there are none,
    /// its low-water mark (a stream that expired or was trimmed past <paramref name="after"/> is a hole here), else 0.</summary>
    private async Task<((List<StoredEntry> Entries, bool Trimmed) Read, long LowWater)> ReadCatchUpAsync(string topic, long after, long through)
    {
        if (after >= through) return (([], false), 0);
        var read = await ReadNewestAsync(TopicStream(topic), after, through, _sink!.Capacity);
        return (read, read.Entries.Count == 0 ? await ReadTopicLowWaterAsync(topic) : 0);
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
}
