// SqliteBackplane on this machine (issue 35, item 5): `dotnet run -c Release --project Benchmarks/Sqlite [runs] [folder]`.
// 1. Sustained publishes/s to one subscriber: 64 concurrent publishers, 100,000 events to one topic, timed until the
//    subscriber (an in-process hub.Subscribe) has every one; maxEventsPerTopic 1,000 (every batch also trims).
// 2. Publish -> receive latency at 1,000 events/s for 5 s: each event carries the Stopwatch time it was published at.
// Each run uses a new file in the folder (default: the system's temp folder); the medians of the runs are printed last.
using System.Diagnostics;
using Bocata;
using Bocata.Sqlite;

var runs = args.Length > 0 ? int.Parse(args[0]) : 3;
var folder = args.Length > 1 ? args[1] : Path.GetTempPath();
var rates = new List<double>();
var p50s = new List<double>();
var p99s = new List<double>();
for (var run = 1; run <= runs; run++)
{
    rates.Add(await ThroughputAsync(Path.Combine(folder, $"bocata-bench-{Guid.NewGuid():N}.db"), 100_000, 64));
    var (p50, p99) = await LatencyAsync(Path.Combine(folder, $"bocata-bench-{Guid.NewGuid():N}.db"), 1000, TimeSpan.FromSeconds(5));
    p50s.Add(p50);
    p99s.Add(p99);
    Console.WriteLine($"run {run}: {rates[^1]:N0} events/s sustained; at 1,000/s publish->receive p50 {p50:0.00} ms, p99 {p99:0.00} ms");
}
Console.WriteLine($"median of {runs}: {Median(rates):N0} events/s; p50 {Median(p50s):0.00} ms, p99 {Median(p99s):0.00} ms");

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static async Task<double> ThroughputAsync(string path, int events, int publishers)
{
    await using var backplane = await SqliteBackplane.OpenAsync(path);
    var hub = new EventHub(replay: 1000, bufferSize: events + 10, backplane: backplane);
    var received = 0;
    var reading = Task.Run(async () =>
    {
        await foreach (var _ in hub.Subscribe(["bench"]))
            if (++received == events) return;
    });
    var clock = Stopwatch.StartNew();
    var next = -1;
    await Task.WhenAll(Enumerable.Range(0, publishers).Select(_ => Task.Run(async () =>
    {
        while (Interlocked.Increment(ref next) < events) await hub.PublishAsync("bench", new ServerEvent(data: "{\"temperature\":21.5}"));
    })));
    await reading;
    var rate = events / clock.Elapsed.TotalSeconds;
    Delete(path);
    return rate;
}

static async Task<(double P50, double P99)> LatencyAsync(string path, int perSecond, TimeSpan duration)
{
    await using var backplane = await SqliteBackplane.OpenAsync(path);
    var hub = new EventHub(replay: 1000, backplane: backplane);
    var total = (int)(perSecond * duration.TotalSeconds);
    var latencies = new List<double>(total);
    var reading = Task.Run(async () =>
    {
        await foreach (var e in hub.Subscribe(["bench"]))
        {
            latencies.Add(Stopwatch.GetElapsedTime(long.Parse(e.Data!)).TotalMilliseconds);
            if (latencies.Count == total) return;
        }
    });
    var start = Stopwatch.GetTimestamp();
    var sends = new List<Task>(total);
    for (var i = 0; i < total; i++)
    {
        // Paced to the schedule (not to the previous publish), so a slow commit does not lower the rate.
        var due = start + (long)(i * (double)Stopwatch.Frequency / perSecond);
        while (Stopwatch.GetTimestamp() < due)
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (left > TimeSpan.FromMilliseconds(2)) await Task.Delay(1);
            else Thread.SpinWait(50);
        }
        sends.Add(hub.PublishAsync("bench", new ServerEvent(data: Stopwatch.GetTimestamp().ToString())));
    }
    await Task.WhenAll(sends);
    await reading;
    Delete(path);
    latencies.Sort();
    return (latencies[latencies.Count / 2], latencies[(int)(latencies.Count * 0.99)]);
}

static void Delete(string path)
{
    foreach (var file in new[] { path, path + "-wal", path + "-shm", path + ".lock" }) File.Delete(file);
}
