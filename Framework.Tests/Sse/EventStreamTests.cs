using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

public class EventStreamTests
{
    [Test]
    public async Task Sends_sse_headers_at_once_and_each_event_as_it_is_yielded()
    {
        var app = TestApps.Quiet();
        var release = new TaskCompletionSource();
        app.Route("/feed", (req, res) => res.EventStream(Feed()));
        async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            await release.Task.WaitAsync(ct);
            yield return new ServerEvent(data: "first", id: "1");
            await Task.Delay(Timeout.Infinite, ct);
        }
        await using var client = app.CreateClient();

        using var response = await client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        response.Headers.CacheControl!.NoCache.Should().BeTrue();
        response.Headers.GetValues("X-Accel-Buffering").Should().Equal("no");
        response.Content.Headers.ContentEncoding.Should().BeEmpty();
        response.Content.Headers.NonValidated.Contains("Content-Length").Should().BeFalse();

        release.SetResult();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("id: 1");
        (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("data: first");
    }

    [Test]
    public async Task A_cache_control_set_by_the_handler_is_kept()
    {
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) =>
        {
            res.Headers["Cache-Control"] = "no-store";
            res.EventStream(Finite(1));
        });
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/feed");
        response.Headers.CacheControl!.NoStore.Should().BeTrue();
        response.Headers.CacheControl.NoCache.Should().BeFalse();
    }

    [Test]
    public async Task The_seed_example_streams_json_temperatures_readable_by_the_test_client()
    {
        var app = TestApps.Quiet();
        app.Route("/temperature-feed", (req, res) =>
        {
            res.EventStream(SendTemperatureData());

            async IAsyncEnumerable<ServerEvent> SendTemperatureData([EnumeratorCancellation] CancellationToken ct = default)
            {
                while (true)
                {
                    var temperature = 10 + 2 * (2 * Random.Shared.NextDouble() - 1);
                    yield return new ServerEvent(json: new { temperature });
                    await Task.Delay(10, ct);
                }
            }
        });
        await using var client = app.CreateClient();

        var readings = new List<double>();
        await foreach (var e in client.EventsAsync("/temperature-feed"))
        {
            readings.Add(e.Json<TemperatureReading>().Temperature);
            if (readings.Count == 20) break;
        }

        readings.Should().HaveCount(20).And.OnlyContain(t => t >= 8 && t <= 12);
    }

    private sealed record TemperatureReading(double Temperature);

    [Test]
    public async Task Pings_keep_an_idle_stream_alive_without_interleaving_events()
    {
        var app = TestApps.Quiet();
        var next = new TaskCompletionSource();
        app.Route("/feed", (req, res) => res.EventStream(Slow(), ping: TimeSpan.FromMilliseconds(50)));
        async IAsyncEnumerable<ServerEvent> Slow([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(data: "a\nb");
            await next.Task.WaitAsync(ct);
            yield return new ServerEvent(data: "c");
        }
        await using var client = app.CreateClient();

        using var response = await client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        while (lines.Count(l => l == ": ping") < 2)
            lines.Add((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))!);
        next.SetResult();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));

        lines.Take(3).Should().Equal("data: a", "data: b", "");
        lines.Skip(3).Should().OnlyContain(l => l == ": ping" || l == "");
        rest.Should().EndWith("data: c\n\n");
    }

    [Test]
    public async Task Client_disconnect_cancels_the_generator_and_runs_its_finally()
    {
        var app = TestApps.Quiet();
        var cleaned = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Route("/feed", (req, res) => res.EventStream(Forever(cleaned)));
        await using var client = app.CreateClient();

        var stopwatch = new Stopwatch();
        using (var cts = new CancellationTokenSource())
        {
            await foreach (var e in client.EventsAsync("/feed", cancellationToken: cts.Token))
            {
                if (e.Data == "3")
                {
                    stopwatch.Start();
                    break;
                }
            }
        }

        (await cleaned.Task.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeTrue("the generator saw its token cancelled");
        TestContext.Out.WriteLine($"disconnect to finally: {stopwatch.Elapsed.TotalMilliseconds:0.0} ms");
        // The generator's finally can run (on its cancelled token) a moment before the sender's loop counts the stream closed.
        await TestApps.UntilAsync(() => client.Server.OpenStreams == 0, TimeSpan.FromSeconds(5));
        client.Server.OpenStreams.Should().Be(0);
    }

    [Test]
    public async Task Server_stop_cancels_open_streams_instead_of_waiting_for_them()
    {
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(60));
        var cleaned = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Route("/feed", (req, res) => res.EventStream(Forever(cleaned)));
        var running = await app.StartAsync("127.0.0.1", 0);
        using var http = new HttpClient { BaseAddress = new Uri(running.Url) };
        using var response = await http.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        (await reader.ReadLineAsync()).Should().StartWith("id:");

        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));

        (await cleaned.Task.WaitAsync(TimeSpan.FromSeconds(5))).Should().BeTrue();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(5));
        rest.Should().NotBeNull("the stream ended rather than hanging");
    }

    [Test]
    public async Task A_generator_exception_ends_only_that_stream_cleanly()
    {
        var app = TestApps.Quiet();
        app.Route("/broken", (req, res) => res.EventStream(Broken()));
        app.Route("/fine", (req, res) => res.EventStream(Finite(2)));
        static async IAsyncEnumerable<ServerEvent> Broken()
        {
            yield return new ServerEvent(data: "before");
            await Task.Yield();
            throw new InvalidOperationException("sensor unplugged");
        }
        await using var client = app.CreateClient();

        var received = new List<string?>();
        await foreach (var e in client.EventsAsync("/broken")) received.Add(e.Data);

        received.Should().Equal("before");
        var fine = new List<string?>();
        await foreach (var e in client.EventsAsync("/fine")) fine.Add(e.Data);
        fine.Should().Equal("0", "1");
    }

    [Test]
    public async Task Last_event_id_and_retry_reach_both_sides()
    {
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(Resume(req.LastEventId)));
        static async IAsyncEnumerable<ServerEvent> Resume(string? lastEventId)
        {
            await Task.Yield();
            yield return new ServerEvent(data: $"resuming after {lastEventId ?? "nothing"}", retry: 2500);
        }
        await using var client = app.CreateClient();

        var first = await client.EventsAsync("/feed").FirstAsync();
        var resumed = await client.EventsAsync("/feed", lastEventId: "41").FirstAsync();

        first.Data.Should().Be("resuming after nothing");
        first.Retry.Should().Be(2500);
        resumed.Data.Should().Be("resuming after 41");
    }

    [Test]
    public async Task Head_on_an_event_stream_returns_headers_without_running_the_generator()
    {
        var app = TestApps.Quiet();
        var started = false;
        app.Route("/feed", (req, res) => res.EventStream(Track()));
        async IAsyncEnumerable<ServerEvent> Track()
        {
            started = true;
            await Task.Yield();
            yield return new ServerEvent(data: "x");
        }
        await using var client = app.CreateClient();

        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/feed")).WaitAsync(TimeSpan.FromSeconds(10));

        response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        started.Should().BeFalse();
    }

    [Test]
    public async Task A_client_that_stops_reading_is_disconnected_after_the_write_timeout()
    {
        var app = TestApps.Quiet(s => s.StreamWriteTimeout = TimeSpan.FromMilliseconds(500));
        var cleaned = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var big = new string('x', 64 * 1024);
        app.Route("/firehose", (req, res) => res.EventStream(Firehose()));
        async IAsyncEnumerable<ServerEvent> Firehose([EnumeratorCancellation] CancellationToken ct = default)
        {
            try
            {
                while (true)
                {
                    yield return new ServerEvent(data: big);
                    await Task.Yield();
                }
            }
            finally
            {
                cleaned.TrySetResult(true);
            }
        }
        await using var client = app.CreateClient();
        var uri = client.BaseAddress!;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(uri.Host, uri.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /firehose HTTP/1.1\r\nHost: {uri.Authority}\r\n\r\n"));

        // The socket is never read: buffers fill, the flush stalls, the write timeout evicts the client.
        (await cleaned.Task.WaitAsync(TimeSpan.FromSeconds(30))).Should().BeTrue();
    }

    [Test]
    public async Task Streams_over_http2_with_tls()
    {
        using var certificate = TestCertificates.SelfSigned();
        var app = TestApps.Quiet(s => s.Certificate = certificate);
        app.Route("/feed", (req, res) => res.EventStream(Finite(3)));
        await using var running = await app.StartAsync("127.0.0.1", 0);
        running.Url.Should().StartWith("https://");
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString();
        using var http = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        using var response = await http.GetAsync(running.Url + "/feed", HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStringAsync();

        response.Version.Should().Be(HttpVersion.Version20);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        body.Should().Be("data: 0\n\ndata: 1\n\ndata: 2\n\n");
    }

    internal static async IAsyncEnumerable<ServerEvent> Finite(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return new ServerEvent(data: i.ToString());
        }
    }

    internal static async IAsyncEnumerable<ServerEvent> Forever(TaskCompletionSource<bool> cleaned, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var i = 0;
        try
        {
            while (true)
            {
                yield return new ServerEvent(data: (++i).ToString(), id: i.ToString());
                await Task.Delay(5, ct);
            }
        }
        finally
        {
            cleaned.TrySetResult(ct.IsCancellationRequested);
        }
    }
}
