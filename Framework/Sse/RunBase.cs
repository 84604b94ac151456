namespace Bocata;

/// <summary>
/// Where an in-memory hub's numbers begin (API.md "Restarts and deploys lose nothing"; OFFSETS.md invariants 4 and 7: in
/// memory, a run is an epoch). A hub without a backplane numbers from a base instead of 0: the current Unix time in
/// microseconds, or the highest number any in-memory hub of this process has given when that is higher. So a new hub (a
/// restart of the process, or a second <c>new EventHub()</c>) numbers above the ids an earlier one gave, and a
/// <c>Last-Event-ID</c> at or below its base is known to come from an earlier run — never taken for one of its own numbers.
/// </summary>
/// <remarks>
/// A later process starts above an earlier one's numbers unless the earlier one published more than one event per
/// microsecond on average since it started, or the clock was set back between the two. In one process, a hub built while
/// another is still publishing starts above what that one gave so far; the two meet later only if the other keeps
/// publishing faster than the clock. Microseconds stay below 2^53 (exact in JavaScript) until the year 2255.
/// </remarks>
internal static class RunBase
{
    // The highest number an in-memory hub of this process has given: read only when a hub is built, so a hub built after
    // another one published faster than the clock still starts above it.
    private static long s_highWater;

    /// <summary>The base of a new in-memory hub: its first number is this + 1.</summary>
    public static long Next() => Math.Max(UnixMicroseconds(), Volatile.Read(ref s_highWater));

    /// <summary>An in-memory hub gave <paramref name="number"/>. Cheap: one read, and a compare-exchange only when it is the
    /// highest yet (concurrent hubs race only on that).</summary>
    public static void Gave(long number)
    {
        var seen = Volatile.Read(ref s_highWater);
        while (number > seen)
        {
            var was = Interlocked.CompareExchange(ref s_highWater, number, seen);
            if (was == seen) return;
            seen = was;
        }
    }

    private static long UnixMicroseconds() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
}
