using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using Bocata.Tests.Testing;
using FluentAssertions;
using Microsoft.Playwright;
using NUnit.Framework;

namespace Bocata.Tests.Examples;

/// <summary>Examples/Notifications as a user runs it: signed-in users, their own feed and their rooms on one EventSource.</summary>
[NonParallelizable]
public class NotificationsTests
{
    private const string Chromium = Bocata.Tests.Browser.TemperatureFeedBrowserTests.Chromium;

    private static HttpClient User(ExampleProcess app) =>
        new(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(app.Url) };

    private static async Task<List<SseItem<string>>> ReadAsync(HttpClient client, string url, int count, string? lastEventId = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var items = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync(cts.Token)).EnumerateAsync(cts.Token))
        {
            items.Add(item);
            if (items.Count == count) break;
        }
        return items;
    }

    [Test]
    public async Task A_user_reads_their_notifications_and_rooms_on_one_stream_and_nobody_elses()
    {
        await using var app = await ExampleProcess.StartAsync("Notifications");
        using var alice = User(app);
        using var bob = User(app);
        (await alice.PostAsJsonAsync("/login", new { user = "alice", password = "alice-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/login", new { user = "bob", password = "bob-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsync("/rooms/games/join", null)).EnsureSuccessStatusCode();

        // Someone else's feed, a room not joined, or no session at all: 403 naming the topic, before any event.
        var refused = await alice.GetAsync("/events?topic=users/alice&topic=users/bob");
        refused.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await refused.Content.ReadAsStringAsync()).Should().Contain("users/bob");
        (await alice.GetAsync("/events?topic=rooms/games")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        using var anonymous = User(app);
        (await anonymous.GetAsync("/events?topic=users/alice")).StatusCode.Should().Be(HttpStatusCode.Forbidden);

        (await bob.PostAsJsonAsync("/users/alice/notify", new { text = "first" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/rooms/games/messages", new { text = "not for alice" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/rooms/lobby/messages", new { text = "hello lobby" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/users/carol/notify", new { text = "not for alice either" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/users/alice/notify", new { text = "second" })).EnsureSuccessStatusCode();
        // Last-Event-ID: 0 asks for everything retained of her topics, merged in order.
        var items = await ReadAsync(alice, "/events?topic=users/alice&topic=rooms/lobby", 3, lastEventId: "0");

        items.Select(i => i.EventType).Should().Equal("notification", "message", "notification");
        items[0].Data.Should().Contain("first");
        items[1].Data.Should().Contain("hello lobby").And.Contain("\"user\":\"bob\"");
        items[2].Data.Should().Contain("second");
        items.Select(i => long.Parse(i.EventId!)).Should().BeInAscendingOrder();

        // Alice reconnects with the last id she got and misses nothing of either topic.
        (await bob.PostAsJsonAsync("/rooms/lobby/messages", new { text = "while alice was away" })).EnsureSuccessStatusCode();
        var resumed = await ReadAsync(alice, "/events?topic=users/alice&topic=rooms/lobby", 1, lastEventId: items[1].EventId);
        resumed.Single().Data.Should().Contain("second", "the resume starts right after the last event she got");
    }

    [Test]
    public async Task Nobody_signs_in_as_someone_else_and_replays_their_private_feed()
    {
        // Security round 4, finding 4: /login took no credential, so anyone signed in as anyone and replayed their feed.
        await using var app = await ExampleProcess.StartAsync("Notifications");
        using var alice = User(app);
        using var bob = User(app);
        using var mallory = User(app);
        (await alice.PostAsJsonAsync("/login", new { user = "alice", password = "alice-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/login", new { user = "bob", password = "bob-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/users/alice/notify", new { text = "private" })).EnsureSuccessStatusCode();

        using var wrong = await mallory.PostAsJsonAsync("/login", new { user = "alice", password = "guessing-it" });
        wrong.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await wrong.Content.ReadAsStringAsync()).Should().Contain("Wrong user name or password");
        using var none = await mallory.PostAsJsonAsync("/login", new { user = "alice" });
        none.StatusCode.Should().Be(HttpStatusCode.BadRequest, "a password is required");
        using var replay = await mallory.GetAsync("/events?topic=users/alice", HttpCompletionOption.ResponseHeadersRead);
        replay.StatusCode.Should().Be(HttpStatusCode.Forbidden, "not signed in as alice: her feed is not replayed");
        // Alice herself signs in again from another client with her password.
        using var again = User(app);
        (await again.PostAsJsonAsync("/login", new { user = "alice", password = "alice-secret" })).EnsureSuccessStatusCode();
        (await ReadAsync(again, "/events?topic=users/alice", 1, lastEventId: "0")).Single().Data.Should().Contain("private");
    }

    [Test]
    public async Task An_api_client_gets_a_token_and_reads_its_own_feed_with_it_and_nobody_elses()
    {
        // Identity, item 6: a bearer-token client (Examples/Notifications/bearer-client.sh, run with bash and curl).
        await using var app = await ExampleProcess.StartAsync("Notifications");
        using var alice = User(app);
        using var bob = User(app);
        (await alice.PostAsJsonAsync("/login", new { user = "alice", password = "alice-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/login", new { user = "bob", password = "bob-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/users/alice/notify", new { text = "for the phone of alice" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/users/bob/notify", new { text = "for bob only" })).EnsureSuccessStatusCode();

        using var anonymous = new HttpClient { BaseAddress = new Uri(app.Url) };
        (await anonymous.PostAsJsonAsync("/token", new { user = "alice", password = "not-her-password" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        using var issued = await anonymous.PostAsJsonAsync("/token", new { user = "alice", password = "alice-secret" });
        var token = (await issued.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("access_token").GetString()!;
        // EventSource cannot set headers: the token in the query opens the stream too; never another user's.
        (await ReadAsync(anonymous, $"/events?topic=users/alice&access_token={token}", 1, lastEventId: "0")).Single().Data.Should().Contain("for the phone of alice");
        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/events?topic=users/bob");
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        (await anonymous.SendAsync(bearer, HttpCompletionOption.ResponseHeadersRead)).StatusCode.Should().Be(HttpStatusCode.Forbidden);

        var script = Path.Combine(TestApps.Root, "Examples", "Notifications", "bearer-client.sh");
        var start = new System.Diagnostics.ProcessStartInfo("bash", [script, "alice", "alice-secret", app.Url]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["LAST_EVENT_ID"] = "0";
        using var client = System.Diagnostics.Process.Start(start)!;
        try
        {
            var lines = new List<string>();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (await client.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
            {
                lines.Add(line);
                if (line.Contains("for the phone of alice", StringComparison.Ordinal)) break;
            }
            lines.Should().Contain("event: notification").And.Contain(l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Contains("for the phone of alice", StringComparison.Ordinal));
            lines.Should().NotContain(l => l.Contains("for bob only", StringComparison.Ordinal));
        }
        finally
        {
            client.Kill(entireProcessTree: true);
        }
    }

    [Test]
    public async Task The_page_shows_a_notification_and_a_room_message_that_arrive_on_its_one_event_source()
    {
        if (!File.Exists(Chromium)) Assert.Ignore($"Chromium is not installed at {Chromium} (apt-get install -y chromium; .ci/run installs it).");
        await using var app = await ExampleProcess.StartAsync("Notifications");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Bocata.Tests.Browser.TemperatureFeedBrowserTests.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(app.Url + "/");
        await page.FillAsync("#name", "alice");
        await page.FillAsync("#password", "alice-secret");
        await page.ClickAsync("#login button");
        await page.WaitForFunctionAsync("() => document.getElementById('status').textContent === 'live'", null, new PageWaitForFunctionOptions { Timeout = 20_000 });

        using var bob = User(app);
        (await bob.PostAsJsonAsync("/login", new { user = "bob", password = "bob-secret" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/users/alice/notify", new { text = "hi alice" })).EnsureSuccessStatusCode();
        (await bob.PostAsJsonAsync("/rooms/lobby/messages", new { text = "hello lobby" })).EnsureSuccessStatusCode();

        await page.WaitForFunctionAsync("() => document.getElementById('notifications').textContent.includes('bob: hi alice')", null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        await page.WaitForFunctionAsync("() => document.getElementById('messages').textContent.includes('#lobby bob: hello lobby')", null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        (await page.TextContentAsync("#user")).Should().Be("alice");
        (await page.TextContentAsync("#status")).Should().Be("live");
    }
}
