using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>The hostile shapes a reviewer tries on any HTTP server, each with the answer Bocata (and Kestrel under it) must give:
/// request smuggling, deep JSON, huge query strings, slow uploads. Every case ends with the server still answering.</summary>
[NonParallelizable]
public class SecurityMatrixTests
{
    private static App NewApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        app.Route("/", (req, res) => res.Text = "alive");
        app.Post("/echo", async (req, res) => res.Text = await req.TextAsync());
        app.Post("/json", async (req, res) => res.Json = await req.JsonAsync());
        app.Route("/query", (req, res) => res.Text = $"{req.QueryParams.Count} {req.QueryParams["a"]}");
        app.Post("/form", async (req, res) => res.Text = $"{(await req.FormAsync()).Files.Count} files");
        return app;
    }

    // Smuggling: a front proxy and Bocata must never disagree on where a request ends. Kestrel refuses every ambiguous framing.
    [TestCase("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", "TE.TE")]
    [TestCase("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "unknown coding")]
    [TestCase("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "space before colon")]
    [TestCase("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", "two lengths")]
    [TestCase("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3,3\r\n\r\nabc", "list length")]
    [TestCase("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", "obs-fold")]
    public async Task Ambiguous_framing_is_refused_and_nothing_is_smuggled(string request, string shape)
    {
        var app = NewApp();
        var smuggled = 0;
        app.Route("/smuggled", (req, res) => { Interlocked.Increment(ref smuggled); res.Text = "smuggled"; });
        await using var client = app.CreateClient();

        var raw = await RawHttp.SendAsync(client.BaseAddress!, request);

        raw.Should().MatchRegex("^HTTP/1.1 (400|501) ", $"{shape} framing is ambiguous");
        raw.Should().NotContain("smuggled").And.NotContain("   at ");
        smuggled.Should().Be(0);
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task Content_length_with_chunked_is_read_as_chunked_and_the_connection_closed_so_nothing_is_smuggled()
    {
        // RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length, and the connection must close after the response.
        var app = NewApp();
        var smuggled = 0;
        app.Route("/smuggled", (req, res) => { Interlocked.Increment(ref smuggled); res.Text = "smuggled"; });
        await using var client = app.CreateClient();

        var raw = await RawHttp.SendAsync(client.BaseAddress!,
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");

        raw.Should().StartWith("HTTP/1.1 200 ").And.Contain("Connection: close").And.EndWith("\r\n\r\nabc");
        smuggled.Should().Be(0);
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task Deeply_nested_json_is_400_quickly()
    {
        await using var client = NewApp().CreateClient();
        var deep = new string('[', 100_000) + new string(']', 100_000);

        var stopwatch = Stopwatch.StartNew();
        var response = await client.PostAsync("/json", new StringContent(deep, Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.TextAsync()).Should().Contain("JSON").And.NotContain("   at ");
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "the depth limit stops parsing early (a hang guard, not a benchmark)");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task A_query_string_of_thousands_of_parameters_is_parsed_in_bounded_memory_and_a_million_is_414()
    {
        await using var client = NewApp().CreateClient();
        var thousands = "/query?" + string.Join('&', Enumerable.Repeat("a=1", 2000)); // just under the request line limit

        var before = GC.GetTotalAllocatedBytes(precise: true);
        (await client.GetStringAsync(thousands)).Should().Be("1 1");
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        allocated.Should().BeLessThan(4 * 1024 * 1024, "parsing an 8 KB query allocates in proportion to it");

        var million = "GET /query?" + string.Join('&', Enumerable.Repeat("a", 1_000_000)) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        (await RawHttp.SendAsync(client.BaseAddress!, million)).Should().StartWith("HTTP/1.1 414 ");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task A_multipart_upload_trickled_slower_than_the_minimum_rate_is_cut_off()
    {
        var app = NewApp(s => { s.MinRequestBodyDataRate = 1000; s.RequestBodyGracePeriod = TimeSpan.FromSeconds(1.5); });
        await using var client = app.CreateClient();
        using var socket = new TcpClient();
        await socket.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n" +
            "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n"));

        // Ten bytes a second, far under 1000 B/s: the server gives up after the grace period, answering 408 or closing.
        var stopwatch = Stopwatch.StartNew();
        var closed = false;
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        while (stopwatch.Elapsed < TimeSpan.FromSeconds(20) && !closed)
        {
            try
            {
                await stream.WriteAsync("xxxxxxxxxx"u8.ToArray());
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                var n = await stream.ReadAsync(buffer, wait.Token);
                if (n == 0) closed = true;
                else answer.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            catch (OperationCanceledException)
            {
            }
            catch (IOException)
            {
                closed = true;
            }
        }

        closed.Should().BeTrue("a trickling upload must not hold the connection forever");
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15));
        if (answer.Length > 0) answer.ToString().Should().StartWith("HTTP/1.1 408 ").And.NotContain("   at ");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }
}
