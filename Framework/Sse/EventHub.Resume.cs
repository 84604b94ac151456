using System.Globalization;

namespace Bocata;

/// <summary>Resuming named topics on a backplane that listens by topic. No instance hears the whole sequence, so an id is never
/// judged against what this instance heard: a number up to the highest the backplane gave is one of the hub's (beyond it, the
/// backplane is asked); each topic's ring says after which number it holds every event (<see cref="HeldAfter"/>), and what a
/// resume needs from before that comes from the backplane's history of the topic, checked for holes (a stored event names its
/// topic's previous one). A resume that cannot be exact says so first (`event: resync`). Everything here runs under the hub's
/// lock except the plans, which run once the backplane answered and touch no hub state.</summary>
public sealed partial class EventHub
{
    /// <summary>The highest number this instance knows the hub gave: heard, or returned by the backplane.</summary>
    internal long KnownHead => Math.Max(Volatile.Read(ref _head), _backplane?.KnownSequence ?? 0);

    /// <summary>The hub number after which <paramref name="ring"/> holds every event of its topic a resume may be given: where it
    /// became complete (it began listening, or a hole), or what left its window. Under the lock.</summary>
    private long HeldAfter(TopicRing ring)
    {
        var oldest = ring.WindowOldest(_replay);
        var left = oldest <= ring.Head ? (oldest > 1 && ring.FrameAt(oldest) is { } f ? f.Seq - 1 : 0) : ring.RemoteLastSeq;
        return Math.Max(ring.CompleteAfter, left);
    }

    /// <summary>Where a resume of named topics with <paramref name="lastEventId"/> starts: each cursor, and either the number it
    /// starts after (everything it needs is here) or a plan decided once the backplane answered. Under the lock.</summary>
    private (Task<HubSubscription.ResumePlan>? Plan, long StartsAfter) ResumeAcross(TopicRing[] rings, long[] cursors, string lastEventId)
    {
        // A publisher's own id held here: the newest event carrying it.
        var found = false;
        var after = 0L;
        foreach (var ring in rings)
        {
            var local = ring.OwnId(lastEventId);
            if (local > 0 && ring.FrameAt(local) is { } f && f.Seq > after)
            {
                after = f.Seq;
                found = true;
            }
        }
        var isNumber = long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var n);
        // A number is the hub's unless a held frame it names carries it as its own id ("7" published as an id is not number 7).
        if (!found && isNumber && !rings.Any(r => r.FrameNumbered(n) is { OwnId: true }))
        {
            after = n;
            found = true;
        }
        if (!found && LooksNumeric(lastEventId))
        {
            for (var i = 0; i < rings.Length; i++) cursors[i] = rings[i].Head;
            var known = KnownHead;
            return (Task.FromResult(new HubSubscription.ResumePlan([], known, $"{Printable(lastEventId)} is not a number this hub gives")), known);
        }
        if (!found)
        {
            // An own id not held here: looked up in the topics' newest history on the backplane (a topic this instance is only
            // starting to listen to may have it after where its ring begins); what follows it up to where each ring is complete
            // comes from that read, the rest from the ring.
            var searched = new List<(string, long, Task<TopicHistory>)>(rings.Length);
            for (var i = 0; i < rings.Length; i++)
            {
                var held = HeldAfter(rings[i]);
                cursors[i] = rings[i].LastAtOrBefore(held);
                searched.Add((rings[i].Name, held, ReadAndEncodeAsync(rings[i].Name, long.MaxValue, ResumeReadCount)));
            }
            return (ResumeAfterOwnIdAsync(searched, lastEventId), 0);
        }
        List<(string, Task<TopicHistory>)>? reads = null;
        for (var i = 0; i < rings.Length; i++)
        {
            var held = HeldAfter(rings[i]);
            if (after >= held)
            {
                cursors[i] = rings[i].LastAtOrBefore(after);
                continue;
            }
            cursors[i] = rings[i].LastAtOrBefore(held);
            (reads ??= []).Add((rings[i].Name, ReadTopicHistoryAsync(rings[i].Name, held)));
        }
        // Beyond every number this instance knows of: the backplane says whether the hub gave it.
        var check = isNumber && after > KnownHead ? StoreHeadAsync() : null;
        if (reads is null && check is null) return (null, after);
        return (ResumeAfterAsync(reads ?? [], after, check, lastEventId), after);
    }

    /// <summary>The backplane's last number: one read serves every resume waiting for it (a reconnect storm). Under the lock.</summary>
    private Task<long> StoreHeadAsync()
    {
        if (_storeHeadRead is { IsCompleted: false } pending) return pending;
        return _storeHeadRead = _backplane!.ReadLastSequenceAsync();
    }

    private Task<long>? _storeHeadRead;

    /// <summary>The backplane's last number, or null when it does not answer within a second (or cannot tell).</summary>
    internal async Task<long?> TryReadStoreHeadAsync(CancellationToken cancellationToken)
    {
        if (_backplane is null) return LastSequence;
        try
        {
            var last = await _backplane.ReadLastSequenceAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(1), cancellationToken);
            return last == long.MaxValue ? null : last;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static async Task<HubSubscription.ResumePlan> ResumeAfterAsync(List<(string Topic, Task<TopicHistory> Read)> reads, long after, Task<long>? check, string lastEventId)
    {
        // Not one of the hub's: live from the backplane's last number, read now (what is published from here on reaches it).
        if (check is not null && await check is var last && after > last)
            return new HubSubscription.ResumePlan([], last, $"{Printable(lastEventId)} is not a number this hub gave (another hub's, or from before its store lost its data)");
        var histories = new (string, TopicHistory, long)[reads.Count];
        for (var i = 0; i < reads.Count; i++) histories[i] = (reads[i].Topic, await reads[i].Read, long.MaxValue);
        return Plan(histories, after, lastEventId, null);
    }

    private static async Task<HubSubscription.ResumePlan> ResumeAfterOwnIdAsync(List<(string Topic, long Held, Task<TopicHistory> Read)> reads, string lastEventId)
    {
        var histories = new (string, TopicHistory, long)[reads.Count];
        var after = -1L;
        for (var i = 0; i < reads.Count; i++)
        {
            var history = await reads[i].Read;
            histories[i] = (reads[i].Topic, history, reads[i].Held);
            foreach (var frame in history.Frames)
                if (frame.OwnId && frame.Source.Id == lastEventId && frame.Seq > after) after = frame.Seq;
        }
        // Not found: every retained event, said to be a resync.
        return Plan(histories, after, lastEventId, after < 0 ? $"{Printable(lastEventId)} is not the id of an event this hub still retains" : null);
    }

    /// <summary>The resume after <paramref name="after"/> from each topic's history read (frames up to its ring's held point:
    /// the ring has the rest), merged in number order; a resync when a topic's history has a hole or a trimmed range after it.</summary>
    private static HubSubscription.ResumePlan Plan((string Topic, TopicHistory History, long Upto)[] histories, long after, string lastEventId, string? resync)
    {
        var frames = new List<HubFrame>();
        foreach (var (topic, history, upto) in histories)
        {
            var first = FirstAfter(history.Frames, after);
            // `Last-Event-ID: 0` asks for everything retained and gets no notice, as on one instance (a store whose epoch began
            // above 0 — a SQLite file — would otherwise tell every such client).
            if (!history.HasEverythingAfter(first, after) && lastEventId != "0") resync ??= $"events of topic '{Printable(topic)}' after {Printable(lastEventId)} are no longer retained";
            foreach (var frame in history.Frames.AsSpan(first))
                if (frame.Seq <= upto) frames.Add(frame);
        }
        if (histories.Length > 1) frames.Sort(static (a, b) => a.Seq.CompareTo(b.Seq));
        return new HubSubscription.ResumePlan([.. frames], Math.Max(0, after), resync);
    }

    private static int FirstAfter(HubFrame[] frames, long after)
    {
        var i = 0;
        while (i < frames.Length && frames[i].Seq <= after) i++;
        return i;
    }

    /// <summary>A topic's newest retained events up to some number, read from the backplane: <see cref="FirstPrevious"/> is the
    /// number of the topic's event before the first (-1: not recorded; with no frames, the topic's low-water mark),
    /// <see cref="Full"/> whether the read stopped at its count (older ones may be retained), <see cref="LowWater"/> at or before
    /// which it cannot vouch for the topic.</summary>
    internal sealed record TopicHistory(HubFrame[] Frames, long FirstPrevious, bool Full)
    {
        /// <summary>Whether these frames from <paramref name="first"/> are every event of the topic after <paramref name="after"/>:
        /// an older one read proves it (the read is contiguous), else the first one's recorded previous number (or, when none
        /// is retained, the low-water mark: what was trimmed away is at or before it).</summary>
        public bool HasEverythingAfter(int first, long after) =>
            after >= LowWater && (first > 0 || (FirstPrevious >= 0 ? FirstPrevious <= after : !Full));

        /// <summary>At or before this number the history cannot vouch for the topic: its low-water mark (trimmed, expired, or
        /// of an older epoch of the store) or a range missing between two of its frames.</summary>
        public long LowWater { get; init; }
    }
}
