using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Testing;

/// <summary>The examples run as a user runs them (their own process, PORT from the environment) and are read by real clients.</summary>
public class ExamplesTests
{
    [Test]
    public async Task TemperatureFeed_is_readable_with_curl()
    {
        if (!File.Exists("/usr/bin/curl")) Assert.Ignore("curl is not installed (apt-get install -y curl).");
        await using var example = await ExampleProcess.StartAsync("TemperatureFeed");

        var start = new ProcessStartInfo("curl", ["-sN", "--max-time", "2", example.Url + "/temperature-feed"]) { RedirectStandardOutput = true };
        using var curl = Process.Start(start)!;
        var output = await curl.StandardOutput.ReadToEndAsync();
        await curl.WaitForExitAsync();

        var events = output.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        events.Length.Should().BeGreaterThan(10);
        events.SkipLast(1).Should().AllSatisfy(e => e.Should().MatchRegex("^data: \\{\"temperature\":[0-9.]+\\}$"));
    }

    [Test]
    public async Task Clock_ticks_named_events()
    {
        await using var example = await ExampleProcess.StartAsync("Clock");
        using var http = new HttpClient();
        await using var stream = await http.GetStreamAsync(example.Url + "/clock");

        var first = await SseParser.Create(stream).EnumerateAsync().FirstAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        first.EventType.Should().Be("tick");
        first.Data.Should().MatchRegex("^[0-9]{2}:[0-9]{2}:[0-9]{2}$");
        (await http.GetStringAsync(example.Url + "/")).Should().Contain("new EventSource(\"/clock\")");
    }

    [Test]
    public async Task ChatFeed_broadcasts_posted_messages_and_resumes_with_last_event_id()
    {
        await using var example = await ExampleProcess.StartAsync("ChatFeed");
        using var http = new HttpClient { BaseAddress = new Uri(example.Url) };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await using var live = await http.GetStreamAsync("/messages", cts.Token);
        var reader = SseParser.Create(live).EnumerateAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var posted = await http.PostAsJsonAsync("/messages", new { author = "ana", text = "hola" }, cts.Token);
        posted.StatusCode.Should().Be(HttpStatusCode.Created);
        await http.PostAsJsonAsync("/messages", new { author = "bo", text = "hi" }, cts.Token);

        (await reader.MoveNextAsync()).Should().BeTrue();
        reader.Current.EventType.Should().Be("message");
        reader.Current.Data.Should().Be("""{"author":"ana","text":"hola"}""");
        // The hub's number: a large integer from the run's base (restart-safe), the same one POST answered with.
        var firstId = reader.Current.EventId;
        firstId.Should().MatchRegex("^[0-9]+$").And.Be((await posted.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(cts.Token)).GetProperty("id").GetString());
        await reader.DisposeAsync();

        using var resume = new HttpRequestMessage(HttpMethod.Get, "/messages");
        resume.Headers.Add("Last-Event-ID", firstId);
        using var resumed = await http.SendAsync(resume, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var missed = await SseParser.Create(await resumed.Content.ReadAsStreamAsync(cts.Token)).EnumerateAsync(cts.Token).FirstAsync(cts.Token);
        missed.Data.Should().Be("""{"author":"bo","text":"hi"}""");

        var bad = await http.PostAsync("/messages", new StringContent("{oops", System.Text.Encoding.UTF8, "application/json"), cts.Token);
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var empty = await http.PostAsJsonAsync("/messages", new { author = "", text = "" }, cts.Token);
        (await empty.Content.ReadAsStringAsync(cts.Token)).Should().Contain("needs an author and a text");
        (await http.PostAsJsonAsync("/messages", new { author = new string('a', 51), text = "x" }, cts.Token)).StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        var huge = new StringContent("{\"author\":\"a\",\"text\":\"" + new string('x', 2_000_000) + "\"}", System.Text.Encoding.UTF8, "application/json");
        (await http.PostAsync("/messages", huge, cts.Token)).StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);

        // POST /messages is rate limited (20 a minute per client): a client that keeps posting is told when to come back.
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 30 && limited is null; i++)
        {
            var response = await http.PostAsJsonAsync("/messages", new { author = "ana", text = $"spam {i}" }, cts.Token);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited = response;
            else response.StatusCode.Should().Be(HttpStatusCode.Created);
        }
        limited.Should().NotBeNull("the 21st post within a minute is refused");
        limited!.Headers.RetryAfter!.Delta.Should().BeGreaterThan(TimeSpan.Zero);
    }

    [Test]
    public async Task WebSocketEcho_echoes()
    {
        await using var example = await ExampleProcess.StartAsync("WebSocketEcho");
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new Uri(example.Url.Replace("http", "ws", StringComparison.Ordinal) + "/echo"), CancellationToken.None);
        await socket.SendAsync("ping"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[100];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        System.Text.Encoding.UTF8.GetString(buffer, 0, result.Count).Should().Be("echo: ping");
    }

    [Test]
    public async Task Greeter_renders_its_template_and_counts_visits_in_the_session()
    {
        await using var example = await ExampleProcess.StartAsync("Greeter");
        using var handler = new HttpClientHandler { UseCookies = true };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(example.Url) };

        (await http.GetStringAsync("/?name=Ana")).Should().Contain("Hello, Ana!").And.Contain("Visit number 1.");
        (await http.GetStringAsync("/?name=%3Cb%3E")).Should().Contain("Hello, &lt;b&gt;!").And.Contain("Visit number 2.");
        (await http.GetAsync("/?name=" + new string('a', 101))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task HelloWorld_answers_and_binds_parameters()
    {
        await using var example = await ExampleProcess.StartAsync("HelloWorld");
        using var http = new HttpClient { BaseAddress = new Uri(example.Url) };

        (await http.GetStringAsync("/")).Should().Be("Hello, World!");
        (await http.GetStringAsync("/greet/Ana?times=2")).Should().Be("""{"greeting":"Hello, Ana! Hello, Ana!"}""");
        // Bounded inputs: the DoS review's 10 GB request is a 400 now.
        (await http.GetAsync("/greet/Ana?times=1000000000")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await http.GetAsync("/greet/" + new string('a', 101))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }
}
