using System.Globalization;

namespace Bocata.Tests.Sse;

/// <summary>An in-memory hub numbers from its run base (its <see cref="EventHub.LastSequence"/> before the first publish), not
/// from 0: tests name its events by their place after that base, never by literal ids.</summary>
internal static class HubIds
{
    /// <summary>The id the hub gives its <paramref name="n"/>-th event (1-based) after <paramref name="runBase"/>.</summary>
    public static string Id(long runBase, long n) => (runBase + n).ToString(CultureInfo.InvariantCulture);

    /// <summary>The ids of events <paramref name="from"/> to <paramref name="to"/> (1-based, inclusive) after <paramref name="runBase"/>.</summary>
    public static IEnumerable<string> Ids(long runBase, int from, int to) =>
        Enumerable.Range(from, to - from + 1).Select(n => Id(runBase, n));
}
