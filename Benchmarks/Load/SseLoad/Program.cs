// SSE load client. Two modes:
//   rate URL SECONDS            one stream, counts events per second (after a warm-up second)
//   scale BASE[,BASE2] CLIENTS ROUNDS PID[,PID2]   CLIENTS connections split over the bases' /hub, ROUNDS publishes on the first;
//                                 prints memory per connection, latency p50/p99 and the first server's CPU, allocations and GCs
//   cross A B SUBSCRIBERS RATE SECONDS   subscribers split over A and B, RATE publishes/s on A: latency on B (across instances) and on A
//   throughput A B SUBSCRIBERS SECONDS  bursts of publishes on A and B as fast as they complete: events/s through the backplane, loss
//   topics BASE CLIENTS RATE SECONDS PID  CLIENTS streams of /topics?user=i&room=i%100 (a user's topic and one of 100 rooms); RATE
//                                 publishes/s, alternately to a random user and a random room: latency p50/p99, delivered/expected,
//                                 server CPU per 1,000 deliveries and memory per connection
//   topics-max BASE CLIENTS SECONDS  the same streams; publishes at rising rates (after a warm-up, from 400/s, x1.25 a step, several in flight) until a step
//                                 loses an event or cannot publish at 95 % of its rate: the highest sustained rate with nothing lost
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

var mode = args[0];
if (mode == "rate") return await RateAsync(new Uri(args[1]), double.Parse(args[2]));
if (mode == "scale") return await ScaleAsync(args[1].Split(',').Select(b => new Uri(b)).ToArray(), int.Parse(args[2]), int.Parse(args[3]), args[4].Split(',').Select(int.Parse).ToArray());
if (mode == "cross") return await CrossAsync(new Uri(args[1]), new Uri(args[2]), int.Parse(args[3]), int.Parse(args[4]), double.Parse(args[5]));
if (mode == "throughput") return await ThroughputAsync(new Uri(args[1]), new Uri(args[2]), int.Parse(args[3]), double.Parse(args[4]));
if (mode == "topics-max") return await TopicsMaxAsync(new Uri(args[1]), int.Parse(args[2]), double.Parse(args[3]));
if (mode == "topics") return await TopicsAsync([.. args[1].Split(',').Select(u => new Uri(u))], int.Parse(args[2]), double.Parse(args[3]), double.Parse(args[4]), [.. args[5].Split(',').Select(int.Parse)]);
Console.Error.WriteLine("usage: rate URL SECONDS | scale BASE[,BASE2] CLIENTS ROUNDS PID[,PID2] | cross A B SUBSCRIBERS RATE SECONDS | throughput A B SUBSCRIBERS SECONDS");
return 2;

static async Task<Socket> OpenAsync(Uri url)
{
    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    await socket.ConnectAsync(url.Host, url.Port);
    await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nAccept: text/event-stream\r\n\r\n"));
    return socket;
}

/// <summary>COUNT streams, opened 500 at a time (the server's accept queue and the client's ports are not flooded).</summary>
static async Task<List<Socket>> OpenManyAsync(int count, Func<int, Uri> url)
{
    var sockets = new List<Socket>(count);
    for (var i = 0; i < count; i += 500)
        sockets.AddRange(await Task.WhenAll(Enumerable.Range(i, Math.Min(500, count - i)).Select(k => OpenAsync(url(k)))));
    return sockets;
}

static int CountEvents(ReadOnlySpan<byte> data, ref byte last)
{
    var count = 0;
    foreach (var b in data)
    {
        if (b == (byte)'\n' && last == (byte)'\n') count++;
        last = b;
    }
    return count;
}

static async Task<int> RateAsync(Uri url, double seconds)
{
    using var socket = await OpenAsync(url);
    var buffer = new byte[64 * 1024];
    byte last = 0;
    var warm = Stopwatch.StartNew();
    while (warm.Elapsed < TimeSpan.FromSeconds(1)) await socket.ReceiveAsync(buffer);
    long events = 0;
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed.TotalSeconds < seconds)
    {
        var n = await socket.ReceiveAsync(buffer);
        if (n == 0) break;
        events += CountEvents(buffer.AsSpan(0, n), ref last);
    }
    Console.WriteLine($"{events / clock.Elapsed.TotalSeconds:0}");
    return 0;
}

static long RssKb(int pid)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    return 0;
}

static async Task<Dictionary<string, double>> StatsAsync(HttpClient http)
{
    var line = await http.GetStringAsync("/stats");
    return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => double.Parse(kv[1], System.Globalization.CultureInfo.InvariantCulture));
}

static async Task<int> ScaleAsync(Uri[] bases, int clients, int rounds, int[] pids)
{
    var baseUrl = bases[0];
    using var http = new HttpClient { BaseAddress = baseUrl };
    GC.Collect();
    await Task.Delay(500);
    var before = pids.Sum(RssKb);
    var sockets = await OpenManyAsync(clients, k => new Uri(bases[k % bases.Length], Environment.GetEnvironmentVariable("HUB_PATH") ?? "/hub"));
    long measureFrom = long.MaxValue;
    var latencies = new List<double>[clients];
    var received = new int[clients];
    var readers = sockets.Select((s, i) => Task.Run(async () =>
    {
        latencies[i] = new List<double>(rounds);
        var buffer = new byte[8192];
        var text = new StringBuilder();
        while (received[i] < rounds)
        {
            var n = await s.ReceiveAsync(buffer);
            if (n == 0) return;
            var now = Stopwatch.GetTimestamp();
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            var all = text.ToString();
            int idx;
            while ((idx = all.IndexOf("\n\n", StringComparison.Ordinal)) >= 0)
            {
                var block = all[..idx];
                all = all[(idx + 2)..];
                foreach (var line in block.Split('\n'))
                {
                    if (line.StartsWith("data: ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(6), out var sent) && sent >= Volatile.Read(ref measureFrom))
                    {
                        latencies[i].Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                        received[i]++;
                    }
                }
            }
            text.Clear().Append(all);
        }
    })).ToArray();

    // Wait until the server counts every subscriber (each probe publishes one unmeasured event).
    var connected = 0;
    for (var t = 0; t < 300 && connected < clients; t++)
    {
        await http.PostAsync(Environment.GetEnvironmentVariable("PUBLISH_PATH") ?? "/publish", null);
        connected = 0;
        foreach (var b in bases) connected += int.Parse(await http.GetStringAsync(new Uri(b, "/count")));
        if (connected < clients) await Task.Delay(200);
    }
    await Task.Delay(1000);
    var after = pids.Sum(RssKb);
    var statsBefore = await StatsAsync(http);
    Volatile.Write(ref measureFrom, Stopwatch.GetTimestamp());
    for (var r = 0; r < rounds; r++)
    {
        await http.PostAsync(Environment.GetEnvironmentVariable("PUBLISH_PATH") ?? "/publish", null);
        await Task.Delay(500);
    }
    await Task.WhenAny(Task.WhenAll(readers), Task.Delay(TimeSpan.FromSeconds(30)));
    var statsAfter = await StatsAsync(http);
    var all = latencies.Where(l => l is not null).SelectMany(l => l).Order().ToArray();
    double Delta(string key) => statsAfter[key] - statsBefore[key];
    var server = $"cpu_ms_per_publish={Delta("cpu_ms") / rounds:0.0} bytes_per_event={Delta("alloc") / Math.Max(1, all.Length):0} " +
                 $"gen0={Delta("gen0"):0} gen1={Delta("gen1"):0} gen2={Delta("gen2"):0} gc_pause_ms={Delta("pause_ms"):0}";
    double P(double q) => Program.PercentileOfSorted(all, q);
    Console.WriteLine($"clients={connected} kb_per_conn={(after - before) / (double)clients:0.0} p50_ms={P(0.50):0.0} p99_ms={P(0.99):0.0} delivered={all.Length}/{(long)clients * rounds} {server}");
    foreach (var s in sockets) s.Dispose();
    return 0;
}

// With several bases (instances on one Redis hub), client k connects to instance (k / 100) % n, so every room has
// streams on every instance and a user's topic lives on one; publishing goes through the first instance.
static async Task<int> TopicsAsync(Uri[] bases, int clients, double rate, double seconds, int[] pids)
{
    var baseUrl = bases[0];
    using var http = new HttpClient { BaseAddress = baseUrl };
    var https = bases.Select(b => new HttpClient { BaseAddress = b }).ToArray();
    int InstanceOf(int k) => (k / 100) % bases.Length;
    GC.Collect();
    await Task.Delay(500);
    var before = pids.Sum(RssKb);
    var sockets = await OpenManyAsync(clients, k => new Uri(bases[InstanceOf(k)], $"/topics?user={k}&room={k % 100}"));
    long measureFrom = long.MaxValue;
    var latencies = new List<double>[clients];
    var received = new long[clients];
    using var stop = new CancellationTokenSource();
    var readers = sockets.Select((s, i) => Task.Run(async () =>
    {
        latencies[i] = [];
        var buffer = new byte[8192];
        var pending = "";
        try
        {
            while (true)
            {
                var n = await s.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                if (n == 0) return;
                var now = Stopwatch.GetTimestamp();
                var all = pending + Encoding.ASCII.GetString(buffer, 0, n);
                int idx;
                while ((idx = all.IndexOf("\n\n", StringComparison.Ordinal)) >= 0)
                {
                    foreach (var line in all[..idx].Split('\n'))
                    {
                        if (line.StartsWith("data: ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(6), out var sent) && sent >= Volatile.Read(ref measureFrom))
                        {
                            latencies[i].Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                            received[i]++;
                        }
                    }
                    all = all[(idx + 2)..];
                }
                pending = all;
            }
        }
        catch (OperationCanceledException)
        {
        }
    })).ToArray();

    async Task<int> ConnectedAsync() => (await Task.WhenAll(https.Select(h => h.GetStringAsync("/topic-count")))).Sum(int.Parse);
    for (var t = 0; t < 300 && await ConnectedAsync() < clients; t++) await Task.Delay(200);
    var connected = await ConnectedAsync();
    // SETTLE seconds before memory is read (default 1): Kestrel's pool evicts blocks left free by the connection storm over
    // tens of seconds, on either server.
    await Task.Delay(TimeSpan.FromSeconds(Program.Seconds("SETTLE", 1)));
    var after = pids.Sum(RssKb);
    var statsBefore = await Task.WhenAll(https.Select(StatsAsync));
    Volatile.Write(ref measureFrom, Stopwatch.GetTimestamp());
    // A fixed rate: user events (1 subscriber each) and room events (clients/100 subscribers each), alternately.
    long expected = 0, roomEvents = 0;
    var userEvents = new long[bases.Length];
    var random = new Random(42);
    var roomSize = clients / 100;
    var (published, sentFor) = await Program.AtRateAsync(rate, seconds, n =>
    {
        var user = n % 2 == 0;
        var topic = user ? $"users/{random.Next(clients)}" : $"rooms/{random.Next(100)}";
        expected += user ? 1 : roomSize;
        if (user) userEvents[InstanceOf(int.Parse(topic[6..]))]++;
        else roomEvents++;
        return http.PostAsync($"/publish-topic?topic={Uri.EscapeDataString(topic)}", null);
    });
    for (var t = 0; t < 100 && received.Sum() < expected; t++) await Task.Delay(100);
    var statsAfter = await Task.WhenAll(https.Select(StatsAsync));
    await stop.CancelAsync();
    var all = latencies.Where(l => l is not null).SelectMany(l => l).Order().ToArray();
    double P(double q) => Program.PercentileOfSorted(all, q);
    var deliveries = received.Sum();
    double Delta(string key) => statsAfter.Zip(statsBefore).Sum(p => p.First.GetValueOrDefault(key) - p.Second.GetValueOrDefault(key));
    // Events Redis sent the instances against the events of the topics they serve: every room is on every instance, a user on one.
    var backplaneExpected = bases.Length > 1 ? userEvents.Sum() + roomEvents * bases.Length : 0;
    Console.WriteLine($"clients={connected} kb_per_conn={(after - before) / (double)clients:0.0} rate={published / sentFor:0} p50_ms={P(0.50):0.00} p99_ms={P(0.99):0.00} " +
                      $"delivered={deliveries}/{expected} cpu_ms_per_1000={Delta("cpu_ms") * 1000 / Math.Max(1, deliveries):0.00} " +
                      $"published={published} backplane_events={Delta("backplane_events"):0} backplane_expected={backplaneExpected} unserved_events={Delta("unserved_events"):0}");
    foreach (var h in https) h.Dispose();
    foreach (var s in sockets) s.Dispose();
    return 0;
}

/// <summary>Rising publish rates over CLIENTS streams of a user topic and a room each, until one step loses an event (a
/// subscriber dropped for lagging, by either server) or the server cannot take publishes at 95 % of the rate asked. The
/// readers count data lines byte by byte and keep every 16th latency, so the load client's core is not the limit.</summary>
static async Task<int> TopicsMaxAsync(Uri baseUrl, int clients, double seconds)
{
    var sockets = await OpenManyAsync(clients, k => new Uri(baseUrl, $"/topics?user={k}&room={k % 100}"));
    var received = new long[clients];
    var closed = new bool[clients];
    long measureFrom = long.MaxValue;
    var latencies = Enumerable.Range(0, clients).Select(_ => new List<double>()).ToArray();
    using var stop = new CancellationTokenSource();
    var readers = sockets.Select((s, i) => Task.Run(async () =>
    {
        var buffer = new byte[16 * 1024];
        var current = new byte[64];
        var length = 0;
        try
        {
            while (true)
            {
                var n = await s.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                if (n == 0) break;
                var now = Stopwatch.GetTimestamp();
                for (var b = 0; b < n; b++)
                {
                    var c = buffer[b];
                    if (c != (byte)'\n')
                    {
                        if (length < current.Length) current[length] = c;
                        length++;
                        continue;
                    }
                    if (length > 6 && current.AsSpan(0, 6).SequenceEqual("data: "u8)
                        && System.Buffers.Text.Utf8Parser.TryParse(current.AsSpan(6, Math.Min(length, current.Length) - 6), out long sent, out _))
                    {
                        var count = Interlocked.Increment(ref received[i]);
                        if (sent >= Volatile.Read(ref measureFrom) && (count & 15) == 0)
                            lock (latencies[i]) latencies[i].Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                    }
                    length = 0;
                }
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            return;
        }
        catch (SocketException)
        {
        }
        closed[i] = true;
    })).ToArray();
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 }) { BaseAddress = baseUrl };
    for (var t = 0; t < 300 && int.Parse(await http.GetStringAsync("/topic-count")) < clients; t++) await Task.Delay(200);
    var random = new Random(42);
    var roomSize = clients / 100;
    double best = 0;
    // An unmeasured warm-up step (tiered compilation), then steps from 400 publishes/s up by a quarter each.
    var rate = 300.0;
    var warming = Warmup(10);
    while (true)
    {
        var step = warming > 0 ? warming : seconds;
        var before = received.Sum();
        long expected = 0, published = 0;
        Volatile.Write(ref measureFrom, Stopwatch.GetTimestamp());
        foreach (var l in latencies) lock (l) l.Clear();
        var inFlight = new List<Task<HttpResponseMessage>>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < step)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * rate);
            while (published < due && inFlight.Count < 256)
            {
                var user = published % 2 == 0;
                var topic = user ? $"users/{random.Next(clients)}" : $"rooms/{random.Next(100)}";
                inFlight.Add(http.PostAsync($"/publish-topic?topic={Uri.EscapeDataString(topic)}", null));
                expected += user ? 1 : roomSize;
                published++;
            }
            if (inFlight.Count >= 256 || inFlight.Count > 0 && inFlight[0].IsCompleted)
            {
                await Task.WhenAny(inFlight);
                inFlight.RemoveAll(t => t.IsCompleted);
            }
            else await Task.Delay(1);
        }
        await Task.WhenAll(inFlight);
        var achieved = published / clock.Elapsed.TotalSeconds;
        var drain = Stopwatch.StartNew();
        while (drain.Elapsed < TimeSpan.FromSeconds(10) && received.Sum() - before < expected && !closed.Any(c => c)) await Task.Delay(50);
        var delivered = received.Sum() - before;
        var all = latencies.SelectMany(l => { lock (l) return l.ToArray(); }).Order().ToArray();
        double P(double q) => Program.PercentileOfSorted(all, q);
        var lost = expected - delivered;
        var dropped = closed.Count(c => c);
        var ok = lost == 0 && dropped == 0 && achieved >= 0.95 * rate;
        Console.Error.WriteLine($"{(warming > 0 ? "warm-up" : "step")} rate={rate:0} achieved={achieved:0} delivered={delivered}/{expected} dropped_streams={dropped} p50_ms={P(0.5):0.00} p99_ms={P(0.99):0.00} {(ok ? "ok" : "failed")}");
        if (!ok) break;
        if (warming > 0)
        {
            warming = 0;
            rate = 400;
            continue;
        }
        best = achieved;
        rate *= 1.25;
    }
    await stop.CancelAsync();
    try { await Task.WhenAll(readers); } catch (Exception) { }
    foreach (var s in sockets) s.Dispose();
    Console.WriteLine($"max_rate={best:0}");
    return 0;
}

/// <summary>One SSE subscriber on a raw socket: records each event's id and its latency from the timestamp in its data.</summary>
sealed class Subscriber(Socket socket)
{
    public List<double> Latencies { get; } = [];
    public List<long> Ids { get; } = [];

    /// <summary>Latencies are kept for events sent from this timestamp on (none until it is set).</summary>
    private long _measureFrom = long.MaxValue;

    public void MeasureFrom(long timestamp) => Volatile.Write(ref _measureFrom, timestamp);

    public static async Task<Subscriber> OpenAsync(Uri url)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(url.Host, url.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nAccept: text/event-stream\r\n\r\n"));
        return new Subscriber(socket);
    }

    public async Task ReadAsync(CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        long id = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var n = await socket.ReceiveAsync(buffer, ct);
                if (n == 0) return;
                var now = Stopwatch.GetTimestamp();
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
                var all = text.ToString();
                var start = 0;
                int end;
                while ((end = all.IndexOf('\n', start)) >= 0)
                {
                    var line = all.AsSpan(start, end - start);
                    start = end + 1;
                    if (line.StartsWith("id: ")) id = long.Parse(line[4..]);
                    else if (line.StartsWith("data: ") && long.TryParse(line[6..], out var sent))
                    {
                        lock (Ids) Ids.Add(id);
                        if (sent >= Volatile.Read(ref _measureFrom)) Latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                    }
                }
                text.Clear().Append(all, start, all.Length - start);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }
}

static partial class Program
{
    // Seconds of unmeasured load before a measurement (WARMUP overrides the mode's default): on a saturated core, tiered
    // compilation takes about a minute to replace instrumented code with optimized code (perf shows the tiering thread still busy
    // 40 s in), so a throughput run measured after 5 s measures the JIT, not the steady state.
    static double Warmup(double fallback) => Seconds("WARMUP", fallback);

    /// <summary>A number of seconds from an environment variable, or <paramref name="fallback"/> when it is unset or empty.</summary>
    internal static double Seconds(string variable, double fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    /// <summary>Calls <paramref name="publish"/> (with the publish's number) <paramref name="rate"/> times a second for
    /// <paramref name="seconds"/>, up to 64 in flight so the rate asked is the rate done even when one reply is slow (awaiting
    /// each in turn held 1,000/s asked to 400-600/s done with 10,000 streams on the server's core); every publish that is due,
    /// then a millisecond's wait (a wait per publish ran late by the timer's granularity: 1,000/s asked, 908/s done). Returns
    /// the publishes and the seconds spent sending them, once every one has completed.</summary>
    internal static async Task<(long Published, double Seconds)> AtRateAsync(double rate, double seconds, Func<long, Task> publish)
    {
        var clock = Stopwatch.StartNew();
        var inFlight = new List<Task>();
        long published = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * rate);
            while (published < due)
            {
                inFlight.Add(publish(published++));
                if (inFlight.Count >= 64) { await Task.WhenAll(inFlight); inFlight.Clear(); }
            }
            await Task.Delay(1);
        }
        var sentFor = clock.Elapsed.TotalSeconds;
        await Task.WhenAll(inFlight);
        return (published, sentFor);
    }

    static double Percentile(IEnumerable<double> values, double q) => PercentileOfSorted(values.Order().ToArray(), q);

    internal static double PercentileOfSorted(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    static async Task<List<Subscriber>> SubscribeAsync(Uri a, Uri b, int count)
    {
        var subscribers = new List<Subscriber>();
        for (var i = 0; i < count; i++) subscribers.Add(await Subscriber.OpenAsync(new Uri(i % 2 == 0 ? a : b, "/hub")));
        using var http = new HttpClient();
        for (var t = 0; t < 100; t++)
        {
            var n = int.Parse(await http.GetStringAsync(new Uri(a, "/count"))) + int.Parse(await http.GetStringAsync(new Uri(b, "/count")));
            if (n >= count) break;
            await Task.Delay(100);
        }
        return subscribers;
    }

    /// <summary>TCP segments the kernel retransmitted (all sockets): on loopback, each is a dropped packet and a 200 ms+ stall.</summary>
    static long Retransmits()
    {
        var lines = File.ReadAllLines("/proc/net/snmp").Where(l => l.StartsWith("Tcp:", StringComparison.Ordinal)).ToArray();
        var names = lines[0].Split(' ');
        return long.Parse(lines[1].Split(' ')[Array.IndexOf(names, "RetransSegs")]);
    }

    static async Task<int> CrossAsync(Uri a, Uri b, int count, double rate, double seconds)
    {
        var subscribers = await SubscribeAsync(a, b, count);
        using var cts = new CancellationTokenSource();
        // Read from the start: streams left unread through the warm-up would fall behind and be dropped by the server.
        var readers = subscribers.Select(s => Task.Run(() => s.ReadAsync(cts.Token))).ToArray();
        using (var warm = new HttpClient { BaseAddress = a })
        {
            // Warm-up (unmeasured): tiered compilation settles first.
            var until = Stopwatch.StartNew();
            while (until.Elapsed < TimeSpan.FromSeconds(Warmup(3))) await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => warm.PostAsync("/publish", null)));
        }
        await Task.Delay(1000);
        var from = Stopwatch.GetTimestamp();
        var retransmitsBefore = Retransmits();
        foreach (var s in subscribers) s.MeasureFrom(from);
        using var http = new HttpClient { BaseAddress = a };
        var (published, sentFor) = await AtRateAsync(rate, seconds, _ => http.PostAsync("/publish", null));
        await Task.Delay(1000);
        await cts.CancelAsync();
        await Task.WhenAll(readers);
        var across = subscribers.Where((_, i) => i % 2 == 1).SelectMany(s => s.Latencies).ToList();
        var local = subscribers.Where((_, i) => i % 2 == 0).SelectMany(s => s.Latencies).ToList();
        Console.WriteLine($"subscribers={count} rate={published / sentFor:0} cross_p50_ms={Percentile(across, 0.5):0.00} cross_p99_ms={Percentile(across, 0.99):0.00} " +
                          $"local_p50_ms={Percentile(local, 0.5):0.00} local_p99_ms={Percentile(local, 0.99):0.00} delivered={across.Count + local.Count}/{published * count} tcp_retransmits={Retransmits() - retransmitsBefore}");
        return 0;
    }

    static async Task<int> ThroughputAsync(Uri a, Uri b, int count, double seconds)
    {
        var subscribers = await SubscribeAsync(a, b, count);
        using var cts = new CancellationTokenSource();
        var readers = subscribers.Select(s => Task.Run(() => s.ReadAsync(cts.Token))).ToArray();
        using var http = new HttpClient();
        long published = 0;
        // Two publishers, one per instance, each sending bursts of 1,000 as fast as they complete.
        async Task<double> RunAsync(double duration)
        {
            var clock = Stopwatch.StartNew();
            var before = Interlocked.Read(ref published);
            await Task.WhenAll(new[] { a, b }.Select(async target =>
            {
                while (clock.Elapsed.TotalSeconds < duration)
                {
                    var text = await (await http.PostAsync(new Uri(target, "/publish-burst?n=1000"), null)).Content.ReadAsStringAsync();
                    Interlocked.Add(ref published, long.Parse(text));
                }
            }));
            return (Interlocked.Read(ref published) - before) / clock.Elapsed.TotalSeconds;
        }
        // Warm-up: the JIT's tiered compilation settles before anything is measured (the events still count for loss).
        await RunAsync(Warmup(5));
        var measuredFrom = Interlocked.Read(ref published);
        var clock = Stopwatch.StartNew();
        var publishRate = await RunAsync(seconds);
        var elapsed = clock.Elapsed.TotalSeconds;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30) && subscribers.Any(s => { lock (s.Ids) return s.Ids.Count < published; })) await Task.Delay(100);
        var drained = clock.Elapsed.TotalSeconds;
        var measured = published - measuredFrom;
        await cts.CancelAsync();
        await Task.WhenAll(readers);
        var complete = subscribers.Count(s => s.Ids.Count == published && s.Ids.Zip(s.Ids.Skip(1)).All(p => p.Second == p.First + 1));
        Console.WriteLine($"subscribers={count} published={published} publish_events_per_s={publishRate:0} delivered_events_per_s={measured / drained:0} " +
                          $"complete_in_order={complete}/{count} lost={subscribers.Sum(s => published - s.Ids.Count)}");
        return 0;
    }
}
