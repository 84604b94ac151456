// SSE load client. Two modes:
//   rate URL SECONDS            one stream, counts events per second (after a warm-up second)
//   scale BASE CLIENTS ROUNDS PID   CLIENTS connections to BASE/hub, ROUNDS publishes; prints memory per connection and latency p50/p99
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

var mode = args[0];
if (mode == "rate") return await RateAsync(new Uri(args[1]), double.Parse(args[2]));
if (mode == "scale") return await ScaleAsync(new Uri(args[1]), int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]));
Console.Error.WriteLine("usage: rate URL SECONDS | scale BASE CLIENTS ROUNDS SERVER_PID");
return 2;

static async Task<Socket> OpenAsync(Uri url)
{
    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    await socket.ConnectAsync(url.Host, url.Port);
    await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nAccept: text/event-stream\r\n\r\n"));
    return socket;
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

static async Task<int> ScaleAsync(Uri baseUrl, int clients, int rounds, int pid)
{
    using var http = new HttpClient { BaseAddress = baseUrl };
    GC.Collect();
    await Task.Delay(500);
    var before = RssKb(pid);
    var sockets = new List<Socket>(clients);
    for (var i = 0; i < clients; i += 500)
        sockets.AddRange(await Task.WhenAll(Enumerable.Range(0, Math.Min(500, clients - i)).Select(_ => OpenAsync(new Uri(baseUrl, Environment.GetEnvironmentVariable("HUB_PATH") ?? "/hub")))));
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
        connected = int.Parse(await (await http.PostAsync(Environment.GetEnvironmentVariable("PUBLISH_PATH") ?? "/publish", null)).Content.ReadAsStringAsync());
        if (connected < clients) await Task.Delay(200);
    }
    await Task.Delay(1000);
    var after = RssKb(pid);
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
    double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
    Console.WriteLine($"clients={connected} kb_per_conn={(after - before) / (double)clients:0.0} p50_ms={P(0.50):0.0} p99_ms={P(0.99):0.0} delivered={all.Length}/{(long)clients * rounds} {server}");
    foreach (var s in sockets) s.Dispose();
    return 0;
}
