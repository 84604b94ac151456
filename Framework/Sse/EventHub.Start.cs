using System.Globalization;

namespace Bocata;

/// <summary>Where a subscription starts on each topic from its <c>Last-Event-ID</c>: on one instance, and for the default topic on a backplane (its history first). Named topics on a backplane that listens by topic resume in EventHub.Resume.cs. Under the hub's lock.</summary>
public sealed partial class EventHub
{
    /// <summary>Where a subscription starts: after each topic's <see cref="Cursors"/>; with <see cref="FromHistory"/> (the default
    /// topic on a shared hub), the backplane's history from <c>HistoryAfter + 1</c> to this instance's oldest frame comes first,
    /// and <see cref="ResolveId"/> (when set) is looked up in it. <see cref="Resync"/>: why the resume cannot be exact (the
    /// stream says so first).</summary>
    private readonly record struct StartAt(long[] Cursors, bool FromHistory = false, long HistoryAfter = 0, string? ResolveId = null, string? Resync = null);

    /// <summary>Where a subscriber with <paramref name="lastEventId"/> starts on each topic. On one instance (no backplane), a
    /// resume that cannot be exact gets everything retained with a `resync` reason: an id this hub did not give (an earlier
    /// run's — at or below the run's base —, malformed, beyond its last number), or older than what a topic still holds;
    /// <c>0</c> asks for everything retained.</summary>
    private StartAt Start(TopicRing[] rings, string? lastEventId)
    {
        var cursors = new long[rings.Length];
        var alone = _backplane is null;
        StartAt ResumeAfter(long number)
        {
            string? resync = null;
            for (var i = 0; i < rings.Length; i++)
            {
                cursors[i] = Math.Max(rings[i].LastAtOrBefore(number), rings[i].WindowOldest(_replay) - 1);
                if (number > 0 && HeldAfter(rings[i]) > number)
                    resync ??= rings[i] == _default
                        ? $"events after {Printable(lastEventId!)} are no longer retained"
                        : $"events of topic '{Printable(rings[i].Name)}' after {Printable(lastEventId!)} are no longer retained";
            }
            return new(cursors, Resync: resync);
        }
        StartAt Window(string? resync = null)
        {
            for (var i = 0; i < rings.Length; i++) cursors[i] = rings[i].WindowOldest(_replay) - 1;
            return new(cursors, Resync: resync);
        }
        StartAt Live()
        {
            for (var i = 0; i < rings.Length; i++) cursors[i] = rings[i].Head;
            return new(cursors);
        }
        var notOurs = $"{Printable(lastEventId ?? "")} is not an id this hub gave";

        if (lastEventId is null)
        {
            // The last ReplayOnConnect events of each topic (within what it retains), else live.
            for (var i = 0; i < rings.Length; i++)
                cursors[i] = _replayOnConnect == 0 ? rings[i].Head : Math.Max(rings[i].Head - _replayOnConnect, rings[i].WindowOldest(_replay) - 1);
            return new(cursors);
        }
        // A publisher's own id: the newest held event carrying it, in the stream's topics and their windows (or just before
        // one: what follows it is the whole window).
        var own = 0L;
        foreach (var ring in rings)
        {
            var local = ring.OwnId(lastEventId);
            if (local >= ring.WindowOldest(_replay) - 1 && ring.FrameAt(local) is { } f && f.Seq > own) own = f.Seq;
        }
        if (own > 0) return ResumeAfter(own);
        var isNumber = long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var n);
        // One instance: a number it never gave (malformed, beyond its last, another hub's) — everything retained, said to be a resync.
        if (!isNumber && LooksNumeric(lastEventId)) return alone ? Window(notOurs) : Live();
        // Across instances, another instance may be ahead of this one: live here, which is after that number, not before.
        if (isNumber && n > _head) return alone ? Window($"{Printable(lastEventId)} is beyond this hub's last number: not an id it gave") : Live();
        // At or below the run's base: an earlier run's number (a restart, or another hub) — never one of this run's.
        if (alone && isNumber && n > 0 && n <= _base)
            return Window($"{Printable(lastEventId)} is from an earlier run of this hub (before a restart, or another EventHub): its events are not here");
        var defaultOnly = rings.Length == 1 && rings[0] == _default;
        if (defaultOnly && _backplane is not null)
        {
            // Older than this instance's ring: the backplane's history says whether the id names a hub number or an own id
            // there, so a resume means the same on every instance. One coalesced read of the window serves every such client.
            var oldest = Math.Max(1, _head - _replay + 1);
            // (The number just before this instance's oldest frame resumes from the ring: everything after it is here.)
            if (oldest < _localOldest && (!isNumber || n < _localOldest - 1))
            {
                cursors[0] = _default.LastAtOrBefore(_localOldest - 1);
                return new(cursors, FromHistory: true, HistoryAfter: oldest - 1, ResolveId: isNumber && n < oldest - 1 ? null : lastEventId);
            }
        }
        if (!isNumber) return Window($"{Printable(lastEventId)} is not the id of an event this hub still retains");
        // A number is the hub's only if the frame it names carries it: a publisher's own id "7" is not hub number 7.
        foreach (var ring in rings)
            if (ring.FrameNumbered(n) is { OwnId: true }) return Window(notOurs);
        return ResumeAfter(n);
    }

    /// <summary>An optional sign then digits: a number, if not one this hub could have given.</summary>
    private static bool LooksNumeric(string id)
    {
        var digits = id.AsSpan(id.Length > 0 && id[0] is '-' or '+' ? 1 : 0);
        return !digits.IsEmpty && !digits.ContainsAnyExceptInRange('0', '9');
    }
}
