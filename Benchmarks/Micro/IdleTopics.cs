using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Bocata.Benchmarks.Micro;

/// <summary>
/// <c>dotnet run -c Release --project Benchmarks/Micro -- idle-topics [COUNT]</c>: COUNT topics (default 1,000,000), each
/// holding one small event, left idle until <see cref="EventHub.TopicRetention"/> (10 s) forgets them. Prints the heap
/// before, full and after (each after a full collection), the bytes per topic, what the hub still holds once they are
/// forgotten, and what a publish to one more topic costs while the million wait (the sweep looks only at the front of the
/// idle queue, so it costs nothing while nothing expires).
/// </summary>
internal static class IdleTopics
{
    public static void Run(int count)
    {
        // The same cycle once, small, so the runtime's first-use costs (compiled code, pools) are not counted.
        Measure(2_000, TimeSpan.FromMilliseconds(200), probes: 1_000);
        var start = GC.GetTotalMemory(forceFullCollection: true);
        var m = Measure(count, TimeSpan.FromSeconds(10), probes: 200_000);
        // The same publishes on a hub of no other topic, after (compiled code warmed by the run above).
        var alone = Measure(0, TimeSpan.FromSeconds(10), probes: 200_000).PublishNs;
        // The hubs are gone with Measure's frames. What is left beyond the start is the runtime's: on the run documented in
        // performance.md, dotnet-dump found the idle queue's outgrown arrays (128 KB to 8 MB) still counted, with no root.
        var end = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"topics={count} held={m.Held} publish_all_s={m.Publishing.TotalSeconds:0.0} start_mb={start / 1e6:0.0} " +
                          $"full_mb={m.Full / 1e6:0.0} bytes_per_topic={(m.Full - start) / (double)count:0} publish_ns_while_waiting={m.PublishNs:0} (alone {alone:0}) " +
                          $"forgotten_after_s={m.Forgetting.TotalSeconds:0.0} left={m.Left} after_forgetting_mb={m.AfterForgetting / 1e6:0.0} " +
                          $"kept_of_growth={(m.AfterForgetting - start) / (double)(m.Full - start):0.0%} without_hub_mb={end / 1e6:0.0}");
    }

    private readonly record struct Result(long Held, TimeSpan Publishing, long Full, double PublishNs, TimeSpan Forgetting, int Left, long AfterForgetting);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Result Measure(int count, TimeSpan retention, int probes)
    {
        var hub = new EventHub(replay: 10) { TopicRetention = retention, MaxTopics = int.MaxValue, MaxBytes = long.MaxValue };
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) hub.Publish($"users/{i}", new ServerEvent(data: "you have mail"));
        var publishing = clock.Elapsed;
        var full = GC.GetTotalMemory(forceFullCollection: true);
        long held = hub.TopicCount;

        // While they wait: publishes to one other topic, timed (nothing has expired yet).
        clock.Restart();
        for (var i = 0; i < probes; i++) hub.Publish("rooms/lobby", new ServerEvent(data: "hello"));
        var perPublish = clock.Elapsed.TotalNanoseconds / probes;

        // Forgotten a retention after their last publish (the lobby, published to last, goes a little later).
        var since = Stopwatch.StartNew();
        while (count > 0 && hub.TopicCount > 1 && since.Elapsed < retention * 6) Thread.Sleep(100);
        var forgetting = since.Elapsed + publishing;
        var left = hub.TopicCount;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(hub);
        return new Result(held, publishing, full, perPublish, forgetting, left, after);
    }
}
