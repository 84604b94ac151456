using System.Diagnostics;
using System.Globalization;
using System.Text;
using Bocata.Redis;
using Bocata.Testing;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// Property tests of the topics hub across two and three instances on one real redis-server (issue 32, deliverable 2): a
/// seeded random schedule of publishes to named topics from random instances, clients that read one to three topics on a
/// random instance, leave, and resume with their last id on another, and faults — pub/sub connections killed, a heartbeat
/// stalled until the instance is taken for dead, linger expiries, Redis restarted (from a snapshot taken at the restart, or
/// from an older one, or empty), Redis paused, an instance disposed and a new one started. At the end every topic gets one
/// more event (a fence) and every client resumes until it has its topics' fences; then each client's ledger (everything it
/// received, session after session) is checked: ids strictly increasing, nothing received twice, nothing of another topic
/// or never published, and every event published to its topics after it first subscribed received — unless a resume told it
/// (<c>event: resync</c>, first in the stream) that it could not be exact from before that event. Across the run: no number is
/// given to two acknowledged publishes, and each instance is in the listener set of every topic it believes it listens to.
/// </summary>
/// <remarks>A failure prints the seed, the configuration, the schedule as it ran (with the logical clock of each step) and,
/// per client, its sessions and what went wrong; <see cref="A_recorded_schedule_replays"/> runs a schedule given as text, to
/// shrink one by hand. The schedule's steps:
/// <c>P i t1,t2</c> instance i publishes one event to each topic (started together, awaited; <c>P&amp;</c>: not awaited);
/// <c>Q i n ms seed</c> instance i publishes n events, one every ms, to topics drawn with the seed, in the background;
/// <c>O c i</c> client c (re)opens on instance i, with its last id if it has one; <c>C c</c> closes it; <c>S i c1,c2</c> those
/// clients resume on instance i at once; <c>L c</c> client c leaves, waits until its instance stopped listening to its topics
/// (Linger), and comes back there; <c>D ms</c> a pause of the schedule; <c>K</c> <c>CLIENT KILL TYPE pubsub</c>;
/// <c>H+ i</c>/<c>H- i</c> instance i's heartbeat stops until it is taken for dead / starts again; <c>SNAP</c> Redis saves a
/// snapshot; <c>R</c> Redis restarts from a snapshot taken with writes paused (nothing lost); <c>RS</c> Redis restarts from
/// the last snapshot (what came after it is lost); <c>E</c> Redis restarts empty; <c>Z ms</c> <c>CLIENT PAUSE ms ALL</c>;
/// <c>X i</c> instance i is disposed and a new one takes its place. Which faults a generated schedule may use: kill, stall,
/// linger, restart (R), restore (SNAP, RS), empty (E), replace (X), pause (Z under 1 s), longpause (Z past PresenceTtl and
/// PublishTimeout); trim makes topic streams short (about 12 entries, replay 5: resumes meet trimmed ranges); slowpublish
/// raises PublishTimeout to 5 s. Instances: Linger 300 ms, PresenceTtl 1.5 s, CheckInterval 150 ms.</remarks>
[NonParallelizable]
public class TopicPropertyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private Run? _run;

    [TearDown]
    public async Task DisposeRun()
    {
        if (_run is not null) await _run.DisposeAsync();
        _run = null;
    }

    private const string AllFaults = "kill,stall,linger,restart,restore,empty,replace,pause,longpause";

    // CI: a few seeds over two and three instances, each fault that Redis survives without losing data in at least one of them
    // (Redis losing data and long stalls: the explicit tests below, which fail today).
    [TestCase(1, 2, "kill,linger,stall,restart")]
    [TestCase(3, 3, "kill,stall,linger,pause,trim")]
    [TestCase(5, 3, "kill,pause,replace,restart,trim")]
    public async Task A_random_schedule_loses_nothing_without_a_resync_duplicates_nothing_and_keeps_ids_increasing(int seed, int instances, string faults)
    {
        await CheckAsync(seed, instances, faults, steps: 26, schedule: null);
    }

    // More seeds run locally through Seeds_or_a_schedule_from_the_environment (BOCATA_PROP_SEEDS), e.g. every fault:
    // seeds 100-114 on 2 and 3 instances with every fault (AllFaults): 22/30 passed before the epoch was settled in Redis (the
    // 8 that failed all lost data in Redis: the reproductions below), 29/30 after it (113:3: a catch-up read delivered a new
    // epoch's first entry as contiguous, fixed since); without Redis losing data: seeds 200-214 (30/30).
    // The reproductions run once each in CI: they passed every run since the fix (they are deterministic, not lucky).

    // ---- Minimal schedules of what the random ones found (seed 104's configuration: c0 reads rooms/2+rooms/3, c1 rooms/1+rooms/3)

    [Test]
    // Failed before the epoch was settled in Redis (Scripts/hub.lua): c0's resume from #1 was served as exact (the new epoch's
    // first entries named no previous event, read as 'nothing before'), no resync.
    public async Task After_redis_restarts_empty_a_resume_from_before_the_loss_says_resync()
    {
        await CheckRepeatedlyAsync(1, 104, 2, "kill", "O 0 0;P 1 rooms/2;D 300;C 0;P 1 rooms/2,rooms/3;E;O 0 1;D 500");
    }

    [Test]
    // Failed before: a restore from the snapshot taken after #1 lost #2 and #3 (same epoch, lower sequence); c0's resume from #1
    // was served as exact, no resync, though the instance logged that the sequence was behind.
    public async Task After_a_restore_from_an_older_snapshot_a_resume_across_the_lost_events_says_resync()
    {
        await CheckRepeatedlyAsync(1, 104, 2, "kill", "O 0 0;P 1 rooms/2;SNAP;D 300;C 0;P 1 rooms/2,rooms/3;RS;O 0 1;D 500");
    }

    [Test]
    // Failed 2 runs in 3 before: after a restore from an older snapshot instance 0 numbered from its own floor, raised only every
    // CheckInterval, and gave again numbers instance 1 gave (#26-#28 twice); c0's open stream on instance 1 dropped them or went
    // backwards (26 after 30). A Redis that restarted now begins a new epoch above every number given (with a gap for those a
    // lagging instance does not know).
    public async Task After_a_restore_from_an_older_snapshot_no_instance_gives_a_number_twice()
    {
        await CheckRepeatedlyAsync(1, 104, 2, "slowpublish", "O 0 1;P 1 rooms/2;SNAP;Q 1 150 2 1;D 150;RS;P 0 rooms/2,rooms/2,rooms/3;D 1000");
    }

    // Failed 2 runs in 3 (1 in 4 with the kill) before the heartbeat renewed its lease only if present (ZADD XX): Redis paused
    // 2.4 s; a publish after it took instance 1 for dead (off rooms/1's listeners); the heartbeat that re-added its lease timed
    // out on the client, so it never learned: rooms/1 never reached it again, or its open stream went backwards (2 after 32).
    [Explicit("passes since the lease fix (two runs of both schedules, 3 and 4 attempts each); ~45 s, so not in CI")]
    [TestCase(3, "O 1 1;D 300;Q 0 200 15 5;Z 2400;D 2000")]
    [TestCase(4, "O 1 1;D 300;Q 0 200 15 5;Z 2400;D 500;K;D 2000")]
    public async Task After_redis_stalls_past_publish_timeout_an_instance_taken_for_dead_listens_again_before_its_streams_go_on(int attempts, string schedule)
    {
        await CheckRepeatedlyAsync(attempts, 104, 2, "kill", schedule);
    }

    private async Task CheckRepeatedlyAsync(int attempts, int seed, int instances, string faults, string schedule)
    {
        for (var i = 0; i < attempts; i++)
        {
            await CheckAsync(seed, instances, faults, steps: 0, schedule: schedule);
            await DisposeRun();
        }
    }

    /// <summary>Runs a schedule given as text (steps separated by ';'), with the configuration of <paramref name="seed"/>.</summary>
    [Explicit("a schedule replayed by hand while shrinking a failure")]
    [TestCase(1, 2, "kill", "O 0 0;P 1 rooms/1;C 0;O 0 1")]
    public async Task A_recorded_schedule_replays(int seed, int instances, string faults, string schedule)
    {
        await CheckAsync(seed, instances, faults, steps: 0, schedule: schedule);
    }

    /// <summary>Seeds or a schedule from the environment: <c>BOCATA_PROP_SEEDS="104:3,106:2"</c> (seed:instances, every fault, 50
    /// steps; <c>seed:instances:faults:steps</c> to choose), or <c>BOCATA_PROP_SCHEDULE="seed:instances:faults:step;step;…"</c>.</summary>
    [Explicit("seeds or a schedule from BOCATA_PROP_SEEDS / BOCATA_PROP_SCHEDULE")]
    [Test]
    public async Task Seeds_or_a_schedule_from_the_environment()
    {
        if (Environment.GetEnvironmentVariable("BOCATA_PROP_SCHEDULE") is { Length: > 0 } given)
        {
            var parts = given.Split(':', 4);
            await CheckAsync(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), parts[2], 0, parts[3]);
            return;
        }
        var failures = new List<string>();
        foreach (var item in (Environment.GetEnvironmentVariable("BOCATA_PROP_SEEDS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(':');
            try
            {
                await CheckAsync(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture),
                    parts.Length > 2 ? parts[2].Replace('+', ',') : AllFaults, parts.Length > 3 ? int.Parse(parts[3], CultureInfo.InvariantCulture) : 50, null);
                TestContext.Out.WriteLine($"{item}: passed");
            }
            catch (AssertionException e)
            {
                failures.Add($"{item}: {e.Message.Split('\n')[0]}");
            }
            finally
            {
                await DisposeRun();
            }
        }
        TestContext.Out.WriteLine(string.Join("\n", failures));
        Assert.That(failures, Is.Empty);
    }

    private async Task CheckAsync(int seed, int instances, string faults, int steps, string? schedule)
    {
        var rnd = new Random(seed);
        var config = Config.Make(rnd, instances, faults);
        var plan = schedule is null ? Generate(rnd, config, steps) : [.. schedule.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        _run = await Run.StartAsync(seed, config);
        var problems = await _run.ExecuteAsync(plan);
        var report = _run.Report(plan, problems);
        TestContext.Out.WriteLine(_run.Summary());
        if (problems.Count == 0 && Environment.GetEnvironmentVariable("BOCATA_PROP_VERBOSE") is { Length: > 0 }) TestContext.Out.WriteLine(report);
        if (problems.Count > 0)
        {
            TestContext.Out.WriteLine(report);
            Assert.Fail($"seed {seed}, {instances} instances, faults {faults}: {problems.Count} problem(s); first: {problems[0]}\n\n{report}");
        }
    }

    // ---- Configuration and schedule -----------------------------------------------------------------------------------

    private sealed record Config(int Instances, string[] Topics, string[][] ClientTopics, int Replay, int BufferSize, int MaxLength, string Faults)
    {
        public static Config Make(Random rnd, int instances, string faults)
        {
            var topics = Enumerable.Range(1, rnd.Next(3, 7)).Select(i => $"rooms/{i}").ToArray();
            var clients = Enumerable.Range(0, rnd.Next(4, 8))
                .Select(_ => topics.OrderBy(_ => rnd.Next()).Take(rnd.Next(1, 4)).OrderBy(t => t, StringComparer.Ordinal).ToArray())
                .ToArray();
            var trim = faults.Contains("trim", StringComparison.Ordinal);
            // Trimmed topics with a small replay: resumes after a long absence read Redis and meet the trimmed range (resync).
            var replay = trim || rnd.Next(2) == 0 ? 5 : 100;
            var bufferSize = rnd.Next(3) == 0 ? 16 : 1024;
            return new Config(instances, topics, clients, replay, bufferSize, trim ? 12 : 1000, faults);
        }

        public bool Has(string fault) => Faults.Split(',').Contains(fault);

        public override string ToString() =>
            $"{Instances} instances, topics {string.Join(",", Topics)}, replay {Replay}, bufferSize {BufferSize}, TopicStreamMaxLength {MaxLength}, faults {Faults}; " +
            $"clients: {string.Join("; ", ClientTopics.Select((t, i) => $"c{i}={string.Join("+", t)}"))}";
    }

    private static List<string> Generate(Random rnd, Config config, int steps)
    {
        var plan = new List<string>();
        var n = config.Instances;
        var clients = config.ClientTopics.Length;
        for (var c = 0; c < clients; c++) plan.Add($"O {c} {rnd.Next(n)}");
        int stalled = -1, stallEnds = 0, stalls = 0, restarts = 0, replaces = 0, kills = 0, pauses = 0;
        var snapshot = false;
        string Topics(int count) => string.Join(",", Enumerable.Range(0, count).Select(_ => config.Topics[rnd.Next(config.Topics.Length)]));
        for (var k = 0; k < steps; k++)
        {
            if (stalled >= 0 && k >= stallEnds)
            {
                plan.Add($"H- {stalled}");
                stalled = -1;
                continue;
            }
            var roll = rnd.Next(100);
            if (roll < 30) plan.Add($"{(rnd.Next(2) == 0 ? "P" : "P&")} {rnd.Next(n)} {Topics(rnd.Next(1, 9))}");
            else if (roll < 38) plan.Add($"Q {rnd.Next(n)} {rnd.Next(10, 61)} {rnd.Next(5, 41)} {rnd.Next(1000)}");
            else if (roll < 52) plan.Add($"O {rnd.Next(clients)} {rnd.Next(n)}");
            else if (roll < 59) plan.Add($"C {rnd.Next(clients)}");
            else if (roll < 66) plan.Add($"D {rnd.Next(0, 700)}");
            else if (roll < 70)
                plan.Add($"S {rnd.Next(n)} {string.Join(",", Enumerable.Range(0, clients).OrderBy(_ => rnd.Next()).Take(rnd.Next(2, Math.Min(5, clients + 1))))}");
            else
            {
                // A fault among those enabled, each a few times at most (some cost seconds).
                var faults = new List<string>();
                if (config.Has("linger")) faults.Add("L");
                if (config.Has("kill") && kills < 4) faults.Add("K");
                if (config.Has("stall") && stalled < 0 && stalls < 1) faults.Add("H+");
                if (config.Has("restart") && restarts < 2) faults.Add("R");
                if (config.Has("restore") && restarts < 2) faults.Add(snapshot ? "RS" : "SNAP");
                if (config.Has("empty") && restarts < 2 && rnd.Next(3) == 0) faults.Add("E");
                if (config.Has("replace") && replaces < 2) faults.Add("X");
                if ((config.Has("pause") || config.Has("longpause")) && pauses < 1) faults.Add("Z");
                if (faults.Count == 0) continue;
                switch (faults[rnd.Next(faults.Count)])
                {
                    case "L": plan.Add($"L {rnd.Next(clients)}"); break;
                    case "K": plan.Add("K"); kills++; break;
                    case "H+":
                        stalled = rnd.Next(n);
                        stallEnds = k + rnd.Next(2, 6);
                        stalls++;
                        plan.Add($"H+ {stalled}");
                        break;
                    case "R": plan.Add("R"); restarts++; break;
                    case "SNAP": plan.Add("SNAP"); snapshot = true; break;
                    case "RS": plan.Add("RS"); restarts++; break;
                    case "E": plan.Add("E"); restarts++; break;
                    case "X": plan.Add($"X {rnd.Next(n)}"); replaces++; break;
                    // A short pause, or one longer than PresenceTtl (1.5 s) and PublishTimeout (2 s).
                    case "Z": plan.Add($"Z {(config.Has("longpause") && (!config.Has("pause") || rnd.Next(2) == 0) ? rnd.Next(1700, 2600) : rnd.Next(200, 1000))}"); pauses++; break;
                }
            }
        }
        if (stalled >= 0) plan.Add($"H- {stalled}");
        return plan;
    }

    // ---- A run: Redis, instances, clients, publishes -------------------------------------------------------------------

    private sealed class Instance(int slot, int generation, EventHub hub, RedisBackplane backplane, ConnectionMultiplexer multiplexer, TestClient client)
    {
        public readonly int Slot = slot;
        public readonly int Generation = generation;
        public readonly EventHub Hub = hub;
        public readonly RedisBackplane Backplane = backplane;
        public readonly ConnectionMultiplexer Multiplexer = multiplexer;
        public readonly TestClient Client = client;

        public override string ToString() => $"{Slot}#{Generation}";

        public async Task DisposeAsync()
        {
            await Client.DisposeAsync();
            await Backplane.DisposeAsync();
            await Multiplexer.DisposeAsync();
        }
    }

    /// <summary>One publish: its data names its topic and its index; Number is null when it failed (its outcome is unknown: it
    /// may still have been published, so it may be received, but it is not owed to anyone).</summary>
    private sealed class Attempt(int index, string topic, string instance, bool fence)
    {
        public readonly int Index = index;
        public readonly string Topic = topic;
        public readonly string Instance = instance;
        public readonly bool Fence = fence;
        public long CallTick;
        public long DoneTick;
        public long CallMs;
        public long? Number;
        public string? Error;

        public string Data => $"{Topic}|{Index}";

        public override string ToString() =>
            $"#{Number?.ToString(CultureInfo.InvariantCulture) ?? "?"} {Topic} (publish {Index}{(Fence ? ", fence" : "")} on {Instance}, t{CallTick}..t{DoneTick} at {CallMs} ms{(Error is null ? "" : ", " + Error)})";
    }

    private sealed class Session(int index, Instance instance, string? from)
    {
        public readonly int Index = index;
        public readonly string Instance = instance.ToString();
        public readonly int Slot = instance.Slot;
        public readonly string? From = from;
        public long OpenedTick;
        public long ClosedTick;
        public long OpenedMs;
        public long ClosedMs;
        public long EndedMs;
        public Recorder? Recorder;
        public List<ServerEvent> Events = [];
        public bool Ended;
        public string? Error;

        public long FromNumber => From is null ? 0 : long.Parse(From, CultureInfo.InvariantCulture);

        public bool Resync => Events.Count > 0 && Events[0].Name == "resync";

        public List<ServerEvent> Current => Recorder?.Events ?? Events;

        public override string ToString()
        {
            var ids = Events.Where(e => e.Id is not null).Select(e => e.Id).ToList();
            var resync = Events.FirstOrDefault(e => e.Name == "resync");
            return $"s{Index} on {Instance} from {From ?? "(live)"} t{OpenedTick}..t{ClosedTick} ({OpenedMs}..{ClosedMs} ms): {ids.Count} events" +
                (ids.Count > 0 ? $" {ids[0]}..{ids[^1]}" : "") + (resync is null ? "" : $" RESYNC {resync.Data}") +
                (Ended ? $", ended by the server at {EndedMs} ms" : "") + (Error is null ? "" : $", {Error}");
        }
    }

    private sealed class Client(int id, string[] topics) : IDisposable
    {
        public readonly int Id = id;
        public readonly string[] Topics = topics;
        public readonly List<Session> Sessions = [];
        public readonly SemaphoreSlim Gate = new(1, 1);
        public Session? Open;
        // The first session of the chain of resumes the ledger is checked from: the last one opened without an id.
        public int ChainFirst;
        // Events acknowledged before this (the call of its fences) are owed to it; later ones it may have stopped reading before.
        public long OwedBefore;

        public string Path => "/events?" + string.Join("&", Topics.Select(t => "topic=" + Uri.EscapeDataString(t)));

        public string? LastId()
        {
            for (var s = Sessions.Count - 1; s >= 0; s--)
                for (var e = Sessions[s].Events.Count - 1; e >= 0; e--)
                    if (Sessions[s].Events[e].Id is { } id) return id;
            return null;
        }

        public IEnumerable<ServerEvent> Everything() => Sessions.SelectMany(s => s.Current);

        public void Dispose() => Gate.Dispose();
    }

    private sealed class Run : IAsyncDisposable
    {
        private readonly int _seed;
        private readonly Config _config;
        private readonly string _name = RedisServer.Topic();
        private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("bocata-prop-");
        private readonly Instance?[] _slots;
        private readonly int[] _generations;
        private readonly List<Client> _clients;
        private readonly List<Attempt> _attempts = [];
        private readonly List<Task> _background = [];
        private readonly List<string> _log = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private RedisServer _redis = null!;
        private int _port;
        private long _ticks;

        private Run(int seed, Config config)
        {
            _seed = seed;
            _config = config;
            _slots = new Instance?[config.Instances];
            _generations = new int[config.Instances];
            _clients = [.. config.ClientTopics.Select((t, i) => new Client(i, t))];
        }

        private long Tick() => Interlocked.Increment(ref _ticks);

        public static async Task<Run> StartAsync(int seed, Config config)
        {
            var run = new Run(seed, config);
            run._redis = await RedisServer.StartDedicatedAsync(dataDirectory: run._dir.FullName);
            run._port = run._redis.Port;
            await run.ConfigureRedisAsync();
            for (var i = 0; i < config.Instances; i++) run._slots[i] = await run.StartInstanceAsync(i);
            return run;
        }

        private async Task ConfigureRedisAsync()
        {
            // Small stream nodes, so MAXLEN ~ trims close to TopicStreamMaxLength (a trimmed topic: resumes across it say resync).
            if (_config.MaxLength >= 1000) return;
            using var admin = await _redis.AdminAsync();
            await admin.GetServer(_redis.Endpoint).ExecuteAsync("CONFIG", "SET", "stream-node-max-entries", "4");
        }

        private async Task<Instance> StartInstanceAsync(int slot)
        {
            var options = ConfigurationOptions.Parse(_redis.Endpoint);
            options.AbortOnConnectFail = false;
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
            var generation = _generations[slot]++;
            var backplane = new RedisBackplane(multiplexer, _name)
            {
                LoggerFactory = new LogTo(line => Log($"  {slot}#{generation} says: {line}")),
                Linger = TimeSpan.FromMilliseconds(300),
                PresenceTtl = TimeSpan.FromMilliseconds(1500),
                CheckInterval = TimeSpan.FromMilliseconds(150),
                TopicStreamMaxLength = _config.MaxLength,
                PublishTimeout = TimeSpan.FromSeconds(_config.Has("slowpublish") ? 5 : 2),
            };
            var hub = new EventHub(replay: _config.Replay, bufferSize: _config.BufferSize, backplane: backplane);
            var app = TestApps.Quiet();
            app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, req.QueryParams.GetAll("topic").ToArray())));
            return new Instance(slot, generation, hub, backplane, multiplexer, app.CreateClient());
        }

        private void Log(string line)
        {
            lock (_log) _log.Add($"[{_clock.ElapsedMilliseconds,6} ms t{Volatile.Read(ref _ticks),-5}] {line}");
        }

        // ---- Steps ------------------------------------------------------------------------------------------------------

        public async Task<List<string>> ExecuteAsync(List<string> plan)
        {
            var problems = new List<string>();
            foreach (var step in plan)
            {
                var started = _clock.ElapsedMilliseconds;
                string? note;
                try
                {
                    note = await StepAsync(step);
                }
                catch (Exception e)
                {
                    note = $"step failed: {e.GetType().Name}: {e.Message}";
                }
                Log($"{step}{(note is null ? "" : "  -> " + note)} ({_clock.ElapsedMilliseconds - started} ms)");
            }
            await QuiesceAsync(problems);
            // A number is given once: never to two acknowledged publishes, whatever Redis lost meanwhile.
            lock (_attempts)
                foreach (var twice in _attempts.Where(a => a.Number is not null).GroupBy(a => a.Number!.Value).Where(g => g.Count() > 1))
                    problems.Add($"number {twice.Key} given to {twice.Count()} acknowledged publishes: {string.Join("; ", twice)}");
            foreach (var client in _clients) problems.AddRange(Check(client).Select(p => $"c{client.Id} [{string.Join("+", client.Topics)}]: {p}"));
            return problems;
        }

        private async Task<string?> StepAsync(string step)
        {
            var parts = step.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int Int(int i) => int.Parse(parts[i], CultureInfo.InvariantCulture);
            switch (parts[0])
            {
                case "P":
                case "P&":
                {
                    var instance = _slots[Int(1)]!;
                    var publishes = parts[2].Split(',').Select(t => PublishAsync(instance, t, fence: false)).ToArray();
                    var all = Task.WhenAll(publishes);
                    if (parts[0] == "P&")
                    {
                        lock (_background) _background.Add(all);
                        return null;
                    }
                    await all;
                    var failed = publishes.Count(p => p.Result.Number is null);
                    return failed == 0 ? null : $"{failed} failed";
                }
                case "Q":
                {
                    // A stream of publishes in the background, through the steps that follow: n events to topics drawn from
                    // its own seed, one every ms.
                    var instance = _slots[Int(1)]!;
                    var count = Int(2);
                    var every = Int(3);
                    var topics = new Random(Int(4));
                    var stream = Task.Run(async () =>
                    {
                        for (var i = 0; i < count; i++)
                        {
                            await PublishAsync(instance, _config.Topics[topics.Next(_config.Topics.Length)], fence: false);
                            await Task.Delay(every);
                        }
                    });
                    lock (_background) _background.Add(stream);
                    return null;
                }
                case "O":
                    return await OpenAsync(_clients[Int(1)], Int(2));
                case "C":
                    await CloseAsync(_clients[Int(1)]);
                    return null;
                case "S":
                {
                    var slot = Int(1);
                    var storm = parts[2].Split(',').Select(c => _clients[int.Parse(c, CultureInfo.InvariantCulture)]).ToList();
                    foreach (var client in storm) await CloseAsync(client);
                    var notes = await Task.WhenAll(storm.Select(c => OpenAsync(c, slot)));
                    return string.Join("; ", notes);
                }
                case "L":
                    return await LingerAsync(_clients[Int(1)]);
                case "D":
                    await Task.Delay(Int(1));
                    return null;
                case "K":
                {
                    using var admin = await _redis.AdminAsync();
                    var killed = await admin.GetServer(_redis.Endpoint).ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
                    return $"{killed} killed";
                }
                case "H+":
                    return await StallAsync(_slots[Int(1)]!);
                case "H-":
                {
                    var instance = _slots[Int(1)]!;
                    instance.Backplane.ResumeHeartbeat();
                    return $"{instance} beats again";
                }
                case "SNAP":
                {
                    using var admin = await _redis.AdminAsync();
                    await admin.GetServer(_redis.Endpoint).ExecuteAsync("SAVE");
                    return null;
                }
                case "R":
                    return await RestartRedisAsync(save: true, empty: false);
                case "RS":
                    return await RestartRedisAsync(save: false, empty: false);
                case "E":
                    return await RestartRedisAsync(save: false, empty: true);
                case "Z":
                {
                    using var admin = await _redis.AdminAsync();
                    await admin.GetServer(_redis.Endpoint).ExecuteAsync("CLIENT", "PAUSE", parts[1], "ALL");
                    return null;
                }
                case "X":
                {
                    var slot = Int(1);
                    var old = _slots[slot]!;
                    _slots[slot] = null;
                    await old.DisposeAsync();
                    _slots[slot] = await StartInstanceAsync(slot);
                    return $"{old} replaced by {_slots[slot]}";
                }
                default:
                    throw new ArgumentException($"Unknown step '{step}'.");
            }
        }

        private async Task<Attempt> PublishAsync(Instance instance, string topic, bool fence)
        {
            Attempt attempt;
            lock (_attempts)
            {
                attempt = new Attempt(_attempts.Count, topic, instance.ToString(), fence);
                _attempts.Add(attempt);
            }
            attempt.CallTick = Tick();
            attempt.CallMs = _clock.ElapsedMilliseconds;
            try
            {
                var published = await instance.Hub.PublishAsync(topic, new ServerEvent(data: attempt.Data));
                attempt.Number = long.Parse(published.Id!, CultureInfo.InvariantCulture);
            }
            catch (Exception e)
            {
                attempt.Error = e.GetType().Name;
            }
            attempt.DoneTick = Tick();
            return attempt;
        }

        /// <summary>Ends the client's session (if any) and keeps what it received.</summary>
        private async Task CloseAsync(Client client)
        {
            await client.Gate.WaitAsync();
            try
            {
                await CloseLockedAsync(client);
            }
            finally
            {
                client.Gate.Release();
            }
        }

        private async Task CloseLockedAsync(Client client)
        {
            if (client.Open is not { } session) return;
            client.Open = null;
            if (session.Recorder is { } recorder)
            {
                await recorder.DisposeAsync();
                session.Events = recorder.Events;
                session.Ended = recorder.Ended;
                session.EndedMs = recorder.EndedMs;
                session.Recorder = null;
            }
            session.ClosedTick = Tick();
            session.ClosedMs = _clock.ElapsedMilliseconds;
        }

        /// <summary>Opens a session on <paramref name="slot"/>: a resume with the client's last id, or live when it has none.</summary>
        private async Task<string> OpenAsync(Client client, int slot)
        {
            await client.Gate.WaitAsync();
            try
            {
                await CloseLockedAsync(client);
                var instance = _slots[slot]!;
                var from = client.LastId();
                var session = new Session(client.Sessions.Count, instance, from);
                client.Sessions.Add(session);
                client.Open = session;
                if (from is null) client.ChainFirst = session.Index;
                try
                {
                    using var timeout = new CancellationTokenSource(Deadline);
                    var stream = await instance.Client.OpenEventsAsync(client.Path, from, timeout.Token);
                    session.OpenedTick = Tick();
                    session.OpenedMs = _clock.ElapsedMilliseconds;
                    session.Recorder = new Recorder(stream, _clock);
                }
                catch (Exception e)
                {
                    session.OpenedTick = Tick();
                    session.OpenedMs = _clock.ElapsedMilliseconds;
                    session.Error = $"open failed: {e.GetType().Name}: {e.Message}";
                    session.Ended = true;
                }
                return $"c{client.Id} s{session.Index} on {instance} from {from ?? "(live)"}{(session.Error is null ? "" : " " + session.Error)}";
            }
            finally
            {
                client.Gate.Release();
            }
        }

        /// <summary>The client leaves; once its instance stopped listening to the topics no other open stream there reads, it comes back.</summary>
        private async Task<string> LingerAsync(Client client)
        {
            if (client.Open is not { } session) return "not open: skipped";
            await CloseAsync(client);
            var instance = _slots[session.Slot];
            if (instance is null || instance.ToString() != session.Instance) return "its instance was replaced: skipped";
            var others = _clients.Where(c => c != client && c.Open is { Recorder.Ended: false } o && o.Instance == session.Instance).SelectMany(c => c.Topics).ToHashSet();
            var waitFor = client.Topics.Where(t => !others.Contains(t)).ToArray();
            var clock = Stopwatch.StartNew();
            await TestApps.UntilAsync(() => !instance.Backplane.ListenedTopics.Intersect(waitFor).Any(), TimeSpan.FromSeconds(5));
            var lingered = !instance.Backplane.ListenedTopics.Intersect(waitFor).Any();
            var opened = await OpenAsync(client, session.Slot);
            return $"{instance} {(lingered ? "stopped" : "did NOT stop")} listening to {string.Join(",", waitFor)} after {clock.ElapsedMilliseconds} ms; {opened}";
        }

        /// <summary>The instance's heartbeat stops until its last one is older than PresenceTtl: the next publish to one of its
        /// topics takes it for dead.</summary>
        private async Task<string> StallAsync(Instance instance)
        {
            instance.Backplane.SuspendHeartbeat();
            using var admin = await _redis.AdminAsync();
            var db = admin.GetDatabase();
            var ttl = instance.Backplane.PresenceTtl.TotalMilliseconds;
            await TestApps.UntilAsync(async () =>
                await db.SortedSetScoreAsync($"bocata:{{{_name}}}:instances", instance.Backplane.InstanceId) is not { } seen
                || seen < DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - ttl - 200, Deadline);
            return $"{instance} silent for PresenceTtl";
        }

        private async Task<string> RestartRedisAsync(bool save, bool empty)
        {
            if (save)
            {
                // Writes (every script) wait while the snapshot is taken; the server dies before they run: nothing acknowledged is lost.
                using var admin = await _redis.AdminAsync();
                var server = admin.GetServer(_redis.Endpoint);
                await server.ExecuteAsync("CLIENT", "PAUSE", "10000", "WRITE");
                await server.ExecuteAsync("SAVE");
            }
            await _redis.DisposeAsync();
            if (empty)
                foreach (var file in _dir.GetFiles()) file.Delete();
            _redis = await RedisServer.StartDedicatedAsync(_port, _dir.FullName);
            await ConfigureRedisAsync();
            return save ? "restarted from a snapshot of everything" : empty ? "restarted empty" : "restarted from the last snapshot";
        }

        // ---- The end: fences, every client catches up ------------------------------------------------------------------

        private async Task QuiesceAsync(List<string> problems)
        {
            Task[] background;
            lock (_background) background = [.. _background];
            await Task.WhenAll(background);
            foreach (var instance in _slots) instance!.Backplane.ResumeHeartbeat();
            // A client that never got an event has no id to resume with: it listens live before the fences are published.
            var rnd = new Random(_seed * 7919);
            foreach (var client in _clients)
                if (client.LastId() is null && client.Open is not { Recorder.Ended: false })
                    Log($"end: {await OpenAsync(client, rnd.Next(_slots.Length))}");
            Log("end: publishing fences");
            foreach (var topic in _config.Topics)
            {
                if (await FenceAsync(topic, rnd) is null)
                {
                    problems.Add($"the fence of {topic} could not be published within {Deadline.TotalSeconds} s");
                    return;
                }
            }
            Log("end: every client catches up");
            var results = await Task.WhenAll(_clients.Select(c => CatchUpAsync(c, new Random(_seed * 1000 + c.Id))));
            problems.AddRange(await ListeningAsync());
            foreach (var client in _clients) await CloseAsync(client);
            problems.AddRange(results.SelectMany(r => r));
            Log("end");
        }

        /// <summary>Once quiet, each instance is where it believes it is: in the hub's instances, and in the listener set of every
        /// topic it listens to (else Redis no longer sends it that topic's events and nothing tells it).</summary>
        private async Task<List<string>> ListeningAsync()
        {
            using var admin = await _redis.AdminAsync();
            var db = admin.GetDatabase();
            async Task<List<string>> Wrong()
            {
                var wrong = new List<string>();
                foreach (var instance in _slots)
                {
                    var id = instance!.Backplane.InstanceId;
                    if (await db.SortedSetScoreAsync($"bocata:{{{_name}}}:instances", id) is null) wrong.Add($"{instance} is not among the hub's instances");
                    foreach (var topic in instance.Backplane.ListenedTopics)
                        if (!await db.SetContainsAsync($"bocata:{{{_name}}}:listeners:{topic}", id))
                            wrong.Add($"{instance} listens to {topic} but is not in its listener set: Redis does not send it {topic}");
                }
                return wrong;
            }
            // A few heartbeats to settle (a lease lost a moment ago is found at the next one).
            var clock = Stopwatch.StartNew();
            var wrong = await Wrong();
            while (wrong.Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(200);
                wrong = await Wrong();
            }
            foreach (var w in wrong) Log("end: " + w);
            return wrong;
        }

        /// <summary>One more event on <paramref name="topic"/>, retried until it is acknowledged (or the deadline).</summary>
        private async Task<Attempt?> FenceAsync(string topic, Random rnd)
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < Deadline)
            {
                var attempt = await PublishAsync(_slots[rnd.Next(_slots.Length)]!, topic, fence: true);
                if (attempt.Number is not null) return attempt;
                await Task.Delay(100);
            }
            return null;
        }

        private List<Attempt> Fences(Client client)
        {
            lock (_attempts)
                return [.. client.Topics.Select(t => _attempts.Last(a => a.Fence && a.Topic == t && a.Number is not null))];
        }

        /// <summary>Until the client has every fence of its topics: an open stream must deliver them (an open stream that never
        /// does is a problem of its own); an ended one resumes on a random instance (live, when it has no id yet: then its
        /// topics get fences of its own). Events acknowledged before its fences were published are owed to it.</summary>
        private async Task<List<string>> CatchUpAsync(Client client, Random rnd)
        {
            var problems = new List<string>();
            var fences = Fences(client);
            HashSet<string> wanted = [.. fences.Select(f => f.Data)];
            client.OwedBefore = fences.Min(f => f.CallTick);
            // Done when it has every fence, or an id past all of them (what it misses can no longer come: the ledger says so).
            bool Done()
            {
                var got = client.Everything().ToList();
                if (wanted.IsSubsetOf(got.Select(e => e.Data!))) return true;
                var newest = got.Where(e => e.Id is not null).Select(e => long.Parse(e.Id!, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();
                return fences.Count > 0 && newest >= fences.Max(f => f.Number!.Value);
            }
            var clock = Stopwatch.StartNew();
            while (!Done())
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                {
                    problems.Add("did not get its topics' fences within 60 s of resuming");
                    break;
                }
                if (client.Open is { Recorder: { } recorder } open)
                {
                    await TestApps.UntilAsync(() => Done() || recorder.Ended, Deadline);
                    if (Done()) break;
                    if (!recorder.Ended)
                    {
                        problems.Add($"an open stream (s{open.Index} on {open.Instance}) did not get its fences within {Deadline.TotalSeconds} s and never ended: " +
                            $"missing {string.Join(", ", fences.Where(f => !client.Everything().Any(e => e.Data == f.Data)))}");
                        Log($"end: c{client.Id} s{open.Index} stuck");
                    }
                    await CloseAsync(client);
                }
                var live = client.LastId() is null;
                var note = await OpenAsync(client, rnd.Next(_slots.Length));
                Log($"end: {note}");
                if (client.Open?.Error is not null) await Task.Delay(200);
                else if (live)
                {
                    // Live again: what was published before it opened is not owed; fences of its own are.
                    fences = [];
                    foreach (var topic in client.Topics)
                        if (await FenceAsync(topic, rnd) is { } fence) fences.Add(fence);
                    wanted = [.. fences.Select(f => f.Data)];
                    client.OwedBefore = fences.Count == 0 ? 0 : fences.Min(f => f.CallTick);
                }
            }
            return problems;
        }

        // ---- The ledger ------------------------------------------------------------------------------------------------

        private List<string> Check(Client client)
        {
            var problems = new List<string>();
            Dictionary<string, Attempt> byData;
            lock (_attempts) byData = _attempts.ToDictionary(a => a.Data);
            var last = 0L;
            var numbers = new HashSet<long>();
            var data = new HashSet<string>();
            foreach (var session in client.Sessions)
            {
                for (var i = 0; i < session.Events.Count; i++)
                {
                    var e = session.Events[i];
                    if (e.Id is null)
                    {
                        if (e.Name != "resync") problems.Add($"s{session.Index}: an event without an id that is not a resync: {e.Name} {e.Data}");
                        else if (i != 0) problems.Add($"s{session.Index}: a resync notice as event {i + 1}, not first: {e.Data}");
                        continue;
                    }
                    if (!long.TryParse(e.Id, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    {
                        problems.Add($"s{session.Index}: id '{e.Id}' is not a number");
                        continue;
                    }
                    if (n <= last) problems.Add($"s{session.Index}: id {n} after {last} (ids must increase, across sessions too)");
                    last = Math.Max(last, n);
                    if (!numbers.Add(n)) problems.Add($"s{session.Index}: id {n} received twice");
                    if (!data.Add(e.Data!)) problems.Add($"s{session.Index}: event {e.Data} received twice (now as #{n})");
                    if (!byData.TryGetValue(e.Data!, out var attempt)) problems.Add($"s{session.Index}: #{n} '{e.Data}' was never published");
                    else if (!client.Topics.Contains(attempt.Topic)) problems.Add($"s{session.Index}: #{n} is of {attempt.Topic}, not one of its topics");
                    else if (attempt.Number is { } given && given != n) problems.Add($"s{session.Index}: {attempt} received as #{n}");
                }
            }
            // Owed: every acknowledged event of its topics published after the first session of its chain had its headers, and
            // before its fences.
            var chain = client.Sessions.Skip(client.ChainFirst).ToList();
            if (chain.Count == 0) return problems;
            var start = chain[0].OpenedTick;
            List<Attempt> owed;
            lock (_attempts) owed = [.. _attempts.Where(a => a.Number is not null && client.Topics.Contains(a.Topic) && a.CallTick > start && a.DoneTick < client.OwedBefore)];
            var lost = new List<Attempt>();
            foreach (var attempt in owed.OrderBy(a => a.Number))
            {
                if (data.Contains(attempt.Data)) continue;
                // Told: a resume from before it, opened after it was published, started with a resync.
                var told = chain.Any(s => s.Resync && s.FromNumber < attempt.Number && attempt.CallTick < s.OpenedTick);
                if (!told) lost.Add(attempt);
            }
            if (lost.Count > 0)
                problems.Add($"{lost.Count} event(s) owed, never received, no resync before them: " +
                    string.Join("; ", lost.Take(8).Select(a => $"{a} while {Around(client, a)}")) + (lost.Count > 8 ? "; …" : ""));
            return problems;
        }

        /// <summary>Where the client was when <paramref name="attempt"/> was published, and which session resumed past it.</summary>
        private static string Around(Client client, Attempt attempt)
        {
            var during = client.Sessions.LastOrDefault(s => s.OpenedTick <= attempt.CallTick);
            var past = client.Sessions.FirstOrDefault(s => s.Events.Any(e => e.Id is not null && long.Parse(e.Id, CultureInfo.InvariantCulture) > attempt.Number));
            var around = "";
            if (past is not null)
            {
                var ids = past.Events.Select(e => e.Id ?? "resync").ToList();
                var at = past.Events.FindIndex(e => e.Id is not null && long.Parse(e.Id, CultureInfo.InvariantCulture) > attempt.Number);
                around = $" [{string.Join(",", ids.Skip(Math.Max(0, at - 3)).Take(Math.Min(3, at)))} | {string.Join(",", ids.Skip(at).Take(3))}]";
            }
            return $"{(during is null ? "before its first session" : $"s{during.Index} {(during.ClosedTick != 0 && during.ClosedTick < attempt.CallTick ? "closed" : "open")}")}" +
                $"{(past is null ? "" : $", s{past.Index} went past it{around}")}";
        }

        public string Summary()
        {
            int acked, failed;
            lock (_attempts)
            {
                acked = _attempts.Count(a => a.Number is not null);
                failed = _attempts.Count - acked;
            }
            var sessions = _clients.Sum(c => c.Sessions.Count);
            var resyncs = _clients.Sum(c => c.Sessions.Count(s => s.Resync));
            var ended = _clients.Sum(c => c.Sessions.Count(s => s.Ended));
            var received = _clients.Sum(c => c.Sessions.Sum(s => s.Events.Count(e => e.Id is not null)));
            return $"seed {_seed}: {_config}\n{acked} publishes acknowledged, {failed} failed; {sessions} sessions ({ended} ended by the server, {resyncs} began with a resync), " +
                $"{received} events received; {_clock.Elapsed.TotalSeconds:0.0} s";
        }

        public string Report(List<string> plan, List<string> problems)
        {
            var text = new StringBuilder();
            text.AppendLine(Summary());
            text.AppendLine("schedule (replay with A_recorded_schedule_replays): " + string.Join(";", plan));
            text.AppendLine("as it ran:");
            lock (_log)
                foreach (var line in _log) text.AppendLine("  " + line);
            text.AppendLine("problems:");
            foreach (var p in problems) text.AppendLine("  " + p);
            text.AppendLine("sessions:");
            foreach (var client in _clients)
            {
                text.AppendLine($"  c{client.Id} [{string.Join("+", client.Topics)}] (checked from s{client.ChainFirst}):");
                foreach (var s in client.Sessions) text.AppendLine("    " + s);
            }
            text.AppendLine("publishes:");
            lock (_attempts)
                foreach (var a in _attempts.OrderBy(a => a.Number ?? long.MaxValue)) text.AppendLine("  " + a);
            return text.ToString();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var client in _clients)
            {
                try
                {
                    await CloseAsync(client);
                }
                catch (Exception)
                {
                }
            }
            foreach (var instance in _slots)
            {
                try
                {
                    if (instance is not null) await instance.DisposeAsync();
                }
                catch (Exception)
                {
                }
            }
            await _redis.DisposeAsync();
            foreach (var client in _clients) client.Dispose();
            try
            {
                _dir.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>An instance's backplane log, into the run's log (its repairs, epochs, leases: what a failure is read with).</summary>
    private sealed class LogTo(Action<string> write) : ILoggerFactory, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            write($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})")}");
    }

    /// <summary>Reads a stream in the background into a list: what it got, and whether the server ended it.</summary>
    private sealed class Recorder : IAsyncDisposable
    {
        private readonly List<ServerEvent> _events = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly EventConnection _connection;
        private readonly Task _reading;
        private volatile bool _ended;

        public Recorder(EventConnection connection, Stopwatch clock)
        {
            _connection = connection;
            _reading = Task.Run(async () =>
            {
                try
                {
                    await foreach (var e in connection.WithCancellation(_stop.Token))
                        lock (_events) _events.Add(e);
                    _ended = true;
                }
                catch (Exception)
                {
                    // Cancelled by this reader, or the connection closed under it (ended by the server).
                    _ended = !_stop.IsCancellationRequested;
                }
                if (_ended) EndedMs = clock.ElapsedMilliseconds;
            });
        }

        /// <summary>When the server ended it (ms into the run).</summary>
        public long EndedMs { get; private set; }

        /// <summary>The server ended the stream (not this reader).</summary>
        public bool Ended => _ended;

        public List<ServerEvent> Events
        {
            get
            {
                lock (_events) return [.. _events];
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _reading;
            await _connection.DisposeAsync();
            _stop.Dispose();
        }
    }
}
