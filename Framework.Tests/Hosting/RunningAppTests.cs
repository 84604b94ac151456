using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

/// <summary>How a running app stops: the "stopping" hook, then the drain, then "shutdown".</summary>
public class RunningAppTests
{
    [Test]
    public async Task Stopping_handlers_run_before_the_drain_while_requests_are_served_and_shutdown_handlers_after_the_server_stopped()
    {
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(30));
        var events = new List<string>();
        RunningApp? running = null;
        app.Route("/", (req, res) => res.Text = "served");
        app.Route("/feed", (req, res) => res.EventStream(Feed()));
        app.On("stopping", async () =>
        {
            using var http = new HttpClient();
            var answer = await http.GetStringAsync(running!.Url + "/");
            lock (events) events.Add($"stopping: {running.OpenStreams} stream(s) open, '/' {answer}");
        });
        app.On("shutdown", async () =>
        {
            using var http = new HttpClient();
            var refused = false;
            try
            {
                await http.GetStringAsync(running!.Url + "/");
            }
            catch (HttpRequestException)
            {
                refused = true;
            }
            lock (events) events.Add($"shutdown: refused {refused}");
        });
        running = await app.StartAsync("127.0.0.1", 0);
        using var client = new HttpClient();
        using var response = await client.GetAsync(running.Url + "/feed", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        (await reader.ReadLineAsync()).Should().Be("data: open");

        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        events.Should().Equal("stopping: 1 stream(s) open, '/' served", "stream ended", "shutdown: refused True");

        async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(data: "open");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                lock (events) events.Add("stream ended");
            }
        }
    }

    [Test]
    public async Task A_failing_stopping_handler_does_not_prevent_the_stop()
    {
        var app = TestApps.Quiet();
        var shutdown = false;
        app.On("stopping", () => throw new InvalidOperationException("load balancer unreachable"));
        app.On("shutdown", () => shutdown = true);
        var running = await app.StartAsync("127.0.0.1", 0);

        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        shutdown.Should().BeTrue();
    }

    [TestCase("/feed")]
    [TestCase("/hub")]
    public async Task An_event_stream_open_during_the_stop_is_told_to_reconnect_soon_then_ends(string path)
    {
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(30));
        var hub = new EventHub();
        app.Route("/feed", (req, res) => res.EventStream(Feed()));
        app.Route("/hub", (req, res) => res.EventStream(hub.Subscribe(req)));
        var running = await app.StartAsync("127.0.0.1", 0);
        using var client = new HttpClient();
        using var response = await client.GetAsync(running.Url + path, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        if (path == "/hub")
        {
            await TestApps.UntilAsync(() => hub.SubscriberCount == 1);
            await hub.PublishAsync(new ServerEvent(data: "open"));
            (await reader.ReadLineAsync()).Should().StartWith("id: ");
        }
        (await reader.ReadLineAsync()).Should().Be("data: open");
        (await reader.ReadLineAsync()).Should().Be("");

        var stopped = running.StopAsync();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await stopped.WaitAsync(TimeSpan.FromSeconds(20));

        rest.Should().MatchRegex(@"^retry: \d+\n\n$", "the last frame says when to reconnect, then the stream ends");
        var delay = int.Parse(rest[7..^2], System.Globalization.CultureInfo.InvariantCulture);
        delay.Should().BeInRange(500, 1500);

        static async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(data: "open");
            await Task.Delay(Timeout.Infinite, ct);
        }
    }

    [Test]
    public async Task A_stream_that_set_its_own_retry_keeps_it_at_the_stop()
    {
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(Feed()));
        var running = await app.StartAsync("127.0.0.1", 0);
        using var client = new HttpClient();
        using var response = await client.GetAsync(running.Url + "/feed", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        (await reader.ReadLineAsync()).Should().Be("data: open");

        var stopped = running.StopAsync();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await stopped.WaitAsync(TimeSpan.FromSeconds(20));

        rest.Should().Be("retry: 30000\n\n", "the event's own retry, and no other");

        static async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(data: "open", retry: 30000);
            await Task.Delay(Timeout.Infinite, ct);
        }
    }

    [Test]
    public async Task A_request_arriving_on_a_keep_alive_connection_during_the_drain_gets_503_and_the_connection_closes()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "served");
        var running = await app.StartAsync("127.0.0.1", 0);
        var port = new Uri(running.Url).Port;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        var request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        await stream.WriteAsync(request);
        (await ReadResponseAsync(stream)).Should().StartWith("HTTP/1.1 200").And.EndWith("served");

        // The drain has begun (what StopAsync does after the "stopping" handlers) while this connection is still open.
        running.Server.SignalStop();
        await stream.WriteAsync(request);
        var refused = await ReadResponseAsync(stream);
        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));

        refused.Should().StartWith("HTTP/1.1 503").And.Contain("Retry-After: 1").And.Contain("Connection: close");
        var body = JsonDocument.Parse(refused[(refused.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
        body.GetProperty("status").GetInt32().Should().Be(503);
        body.GetProperty("error").GetString().Should().Be("503 Service Unavailable");
        (await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(20))).Should().Be(0, "the server closed the connection");
    }

    [Test]
    public async Task An_in_flight_request_finishes_while_streams_end_and_late_requests_are_aborted_at_the_timeout()
    {
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(1));
        var slowStarted = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var stuckStarted = new TaskCompletionSource();
        var never = new TaskCompletionSource();
        app.Route("/slow", async (req, res) =>
        {
            slowStarted.TrySetResult();
            await release.Task;
            res.Text = "finished";
        });
        app.Route("/stuck", async (req, res) =>
        {
            stuckStarted.TrySetResult();
            await never.Task; // ignores every token: only the shutdown timeout ends it
            res.Text = "too late";
        });
        var running = await app.StartAsync("127.0.0.1", 0);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var slow = http.GetStringAsync(running.Url + "/slow");
        var stuck = http.GetStringAsync(running.Url + "/stuck");
        await slowStarted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await stuckStarted.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var stopped = running.StopAsync();
        await TestApps.UntilAsync(() => running.Server.Stopping.IsCancellationRequested);
        release.SetResult();

        (await slow.WaitAsync(TimeSpan.FromSeconds(20))).Should().Be("finished", "a request in flight when the stop began gets to finish");
        await stopped.WaitAsync(TimeSpan.FromSeconds(20));
        stopped.IsCompletedSuccessfully.Should().BeTrue("the stop does not wait past ShutdownTimeout for a request that never ends");
        await FluentActions.Awaiting(() => stuck.WaitAsync(TimeSpan.FromSeconds(20))).Should().ThrowAsync<HttpRequestException>();
        never.SetResult();
    }

    /// <summary>One HTTP/1.1 response with a Content-Length body, as text.</summary>
    private static async Task<string> ReadResponseAsync(NetworkStream stream)
    {
        var buffer = new byte[8192];
        var text = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0) return text.ToString();
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
            var all = text.ToString();
            var end = all.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            var length = all[..end].Split("\r\n").Select(l => l.Split(": ", 2)).Where(p => p[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            if (Encoding.UTF8.GetByteCount(all[(end + 4)..]) >= length) return all;
        }
    }
}
