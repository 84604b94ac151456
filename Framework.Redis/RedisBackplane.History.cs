using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>History: reading the hub's and topics' streams (pages, newest first), decoding entries, repairing gaps. A stored entry
/// names its topic's previous number: a range trimmed away is delivered as a hole, never as contiguous. Runs under _order.</summary>
public sealed partial class RedisBackplane
{
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
    /// <remarks>Read from the topic's own stream, newest first in pages of <see cref="PageSize"/>.</remarks>
    public async Task<IReadOnlyList<BackplaneEvent>> ReadTopicAsync(string topic, long to, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var (entries, _) = await ReadNewestAsync(TopicStream(topic), 0, to, count, cancellationToken);
        return [.. entries.Where(e => e.Event is not null).Select(e => new BackplaneEvent(e.Sequence, e.Event!.Value.Event) { Topic = topic, Previous = e.Previous })];
    }

    /// <inheritdoc />
    /// <remarks>The oldest retained entry of the topic's stream names the event before it: that one and older are gone; and
    /// nothing of an older epoch (from before Redis restarted or lost its data) can be vouched for.</remarks>
    public async Task<long> ReadTopicLowWaterAsync(string topic, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var retention = Math.Max(1, (long)TopicStreamRetention.TotalSeconds);
        var low = await _redis.GetDatabase().ScriptEvaluateAsync(LowWaterScript, [TopicStream(topic), _horizonKey, _sequenceKey, _epochKey, _sinceKey, _runKey],
            [retention, Guid.NewGuid().ToString("N"), Floor, KnownEpoch]).WaitAsync(PublishTimeout, cancellationToken);
        return (long)low;
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
            // Its topic's previous number; on the first entry of a stream created anew, what an expired one may have held ('h').
            var previous = Math.Max(Number(entry["p"]), Number(entry["h"]));
            page.Add(new StoredEntry(seq, Decode(seq, entry["e"]), previous));
        }
        return page;
    }

    private static long Number(RedisValue field) =>
        field.HasValue && long.TryParse((string)field!, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1;

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
        var entryBefore = -1L;
        foreach (var (seq, evt, recorded) in entries)
        {
            // Each entry names its topic's previous event: one that names more than the entry before it is a range missing
            // inside the read (the first entry of a new epoch names where the epoch began), delivered as the hole it is. An entry
            // that cannot be decoded is skipped, not a hole: the next one names it, and goes with the last delivered.
            if (entryBefore >= 0 && recorded > entryBefore)
            {
                Log.LogWarning("Redis backplane for topic {Topic}: events of topic {Name} after {After} up to {Previous} are no longer in Redis; the streams that read it resume (resync)", Topic, topic, entryBefore, recorded);
                previous = Math.Max(previous, recorded);
            }
            entryBefore = seq;
            if (evt is not { } e) continue;
            _sink!.Deliver(seq, previous, topic, e.Event);
            previous = seq;
            delivered++;
        }
        return delivered;
    }

    /// <summary>A message naming <paramref name="previous"/>, which this instance has not delivered (it has up to
    /// <paramref name="last"/>): the missing events are read and delivered first (<see cref="FillLockedAsync"/>). Returns the
    /// previous number to deliver the message with — the topic's last delivered when the read reached
    /// <paramref name="previous"/> (an entry that could not be decoded is skipped, not a hole), else
    /// <paramref name="previous"/> (a hole the hub ends streams at) — or null when Redis could not be read (retried with the
    /// next message or check).</summary>
    private async Task<long?> FillBeforeAsync(string topic, long last, long previous)
    {
        try
        {
            var filledThrough = await FillLockedAsync(topic, last, previous);
            return filledThrough >= previous ? Math.Min(previous, _sink!.TopicLast(topic)) : previous;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Log.LogWarning(e, "Redis backplane for topic {Topic}: could not read missed events from the stream; retrying with the next message or check", Topic);
            return null;
        }
    }

    /// <summary>Delivers the stored events of <paramref name="topic"/> numbered after <paramref name="after"/> up to
    /// <paramref name="through"/>. Only the newest the hub can hold matter: older ones are skipped (a gap its subscribers resume
    /// across), so a huge gap costs one ring's worth of reads. Returns the newest entry read, decodable or not (0: none).</summary>
    private async Task<long> FillLockedAsync(string topic, long after, long through)
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
        return read.Entries.Count > 0 ? read.Entries[^1].Sequence : 0;
    }

    // ---- Listening by topic -----------------------------------------------------------------------------------------
}
