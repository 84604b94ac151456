using System.Collections.Concurrent;
using System.Diagnostics;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sqlite;

/// <summary>A publish that returned is on disk (issue 35, item 2): a process publishing in a burst from several tasks, to the
/// default topic and three named ones, printing each number its publish returned, is killed with SIGKILL mid-burst. A new
/// process on the file resumes a client from 0 on every topic and gets every printed number: once each, in order, with no gap
/// in the hub's numbering.</summary>
[NonParallelizable]
public class SqliteCrashTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Test]
    public async Task After_a_sigkill_mid_burst_a_new_process_on_the_file_has_every_publish_that_returned()
    {
        await using var files = new SqliteFiles();
        var file = files.PathOf();
        var printed = new ConcurrentQueue<string>();
        using (var publisher = StartPublisher(file, printed))
        {
            // Well into the burst: publishes are in flight at every moment from here on.
            await TestApps.UntilAsync(() => printed.Count > 3000 || publisher.HasExited, Deadline);
            publisher.HasExited.Should().BeFalse("the publisher runs until it is killed");
            publisher.Kill();
            await publisher.WaitForExitAsync();
        }
        // "<topic> <number> ok": a line cut by the kill (none expected: each is one write to a pipe) is not counted.
        var returned = printed.Select(l => l.Split(' ')).Where(p => p is [_, _, "ok"]).Select(p => (Topic: p[0], Number: long.Parse(p[1]))).ToList();
        returned.Should().HaveCountGreaterThan(3000);
        returned.Select(r => r.Number).Should().OnlyHaveUniqueItems();

        // The new process: a hub on the file, a fence on each topic so a reader knows it has everything.
        var backplane = await files.OpenAsync(file, maxEventsPerTopic: 1_000_000);
        var hub = new EventHub(replay: 100_000, backplane: backplane);
        var client = files.Serve(hub);
        var fences = new Dictionary<string, long>
        {
            [""] = long.Parse((await hub.PublishAsync(new ServerEvent(name: "fence", data: "fence"))).Id!),
        };
        foreach (var topic in new[] { "t0", "t1", "t2" }) fences[topic] = long.Parse((await hub.PublishAsync(topic, new ServerEvent(name: "fence", data: "fence"))).Id!);

        foreach (var t in fences.Keys) TestContext.Out.WriteLine($"{t}: fence {fences[t]}, {(await backplane.ReadTopicAsync(t, long.MaxValue, 1_000_000)).Count} in file; head {hub.LastSequence}");
        var received = new List<long>();
        var all = await ReadUntilFencesAsync(client, "/events?topic=t0&topic=t1&topic=t2", 3);
        var feed = await ReadUntilFencesAsync(client, "/feed", 1);
        all.Concat(feed).Should().NotContain(e => e.Name == "resync", "Last-Event-ID: 0 asks for everything retained");
        all.Select(e => long.Parse(e.Id!)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        feed.Select(e => long.Parse(e.Id!)).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        received.AddRange(all.Where(e => e.Name != "fence").Select(e => long.Parse(e.Id!)));
        received.AddRange(feed.Where(e => e.Name != "fence").Select(e => long.Parse(e.Id!)));

        var numbers = received.Order().ToList();
        numbers.Should().OnlyHaveUniqueItems();
        numbers.Should().Contain(returned.Select(r => r.Number), "every publish that returned before the kill is in the file");
        (numbers[^1] - numbers[0] + 1).Should().Be(numbers.Count, "the numbers in the file are dense: none was given and lost");
        (fences.Values.Min() - numbers[^1]).Should().Be(1, "the new process numbers right after the last one in the file");
        TestContext.Out.WriteLine($"{returned.Count} publishes returned before the kill; {numbers.Count} in the file");
    }

    /// <summary>The stream's events (its resume from 0: everything retained, no notice) up to every fence of its topics.</summary>
    private static async Task<List<ServerEvent>> ReadUntilFencesAsync(Bocata.Testing.TestClient client, string path, int fences)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        await using var stream = await client.OpenEventsAsync(path, "0", timeout.Token);
        var events = new List<ServerEvent>();
        var seen = 0;
        try
        {
            await foreach (var e in stream.WithCancellation(timeout.Token))
            {
                    events.Add(e);
                if (e.Name == "fence" && ++seen == fences) break;
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{path}: {seen} of {fences} fences within {Deadline.TotalSeconds} s, after {events.Count} events (last {events.LastOrDefault()?.Id})");
        }
        return events;
    }

    private static Process StartPublisher(string file, ConcurrentQueue<string> printed)
    {
        var testDir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        var configuration = testDir.Parent!.Name;
        var root = testDir.Parent.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(root, "Framework.Tests.SqlitePublisher", "bin", configuration, testDir.Name, "Bocata.Tests.SqlitePublisher.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"The crash test's publisher is not built at {dll}; build Framework.Tests.", dll);
        var start = new ProcessStartInfo("dotnet", [dll, file, "8", "3"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line) printed.Enqueue(line);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line) TestContext.Progress.WriteLine("publisher: " + line);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
