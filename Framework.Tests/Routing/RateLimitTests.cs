using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

/// <summary><c>.RateLimit(permits, window)</c> on routes and routers (API.md "Rate limits", issue 36 item 10): per client, 429 with
/// Retry-After, the handler not run, and the state per client bounded whatever the flood.</summary>
public class RateLimitTests
{
    private static HttpRequestMessage From(string path, string forwardedFor) =>
        new(HttpMethod.Get, path) { Headers = { { "X-Forwarded-For", forwardedFor } } };

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        using (var response = await client.SendAsync(request))
            return response.StatusCode;
    }

    [Test]
    public async Task Past_the_limit_a_client_gets_429_with_Retry_After_and_the_handler_does_not_run()
    {
        var app = TestApps.Quiet();
        var runs = 0;
        app.Post("/login", (req, res) => res.Text = $"run {Interlocked.Increment(ref runs)}").RateLimit(2, TimeSpan.FromMinutes(1));
        await using var client = app.CreateClient();

        (await client.PostAsync("/login", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.PostAsync("/login", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        using var refused = await client.PostAsync("/login", null);

        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        var body = await refused.JsonAsync();
        body.GetProperty("error").GetString().Should().Be("429 Too Many Requests");
        body.GetProperty("status").GetInt32().Should().Be(429);
        body.GetProperty("detail").GetString().Should().StartWith("At most 2 requests per minute; try again in ");
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        retryAfter.Should().BeInRange(1, 60, "whole seconds until the client's window ends");
        runs.Should().Be(2, "a refused request never reaches the handler");
    }

    [Test]
    public async Task Signed_in_users_behind_one_address_are_limited_each_on_their_own()
    {
        // API.md "Rate limits": the signed-in user when there is one, else the address (every client here is 127.0.0.1).
        var app = Bocata.Tests.Identity.Tokens.App();
        app.Post("/publish", (req, res) => res.Text = req.User.Identity!.Name!).RateLimit(2, TimeSpan.FromMinutes(1));
        await using var client = app.CreateClient();
        async Task<HttpStatusCode> PostAs(string? user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/publish");
            if (user is not null) request.Headers.Authorization = new("Bearer", Bocata.Tests.Identity.Tokens.Issue(user));
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        (await PostAs("ana")).Should().Be(HttpStatusCode.OK);
        (await PostAs("ana")).Should().Be(HttpStatusCode.OK);
        (await PostAs("ana")).Should().Be(HttpStatusCode.TooManyRequests, "ana used her two");
        (await PostAs("bob")).Should().Be(HttpStatusCode.OK, "bob, at the same address, has his own budget");
        (await PostAs("bob")).Should().Be(HttpStatusCode.OK);
        (await PostAs(null)).Should().Be(HttpStatusCode.OK, "the anonymous client counts as its address, apart from the users");
    }

    [Test]
    public async Task When_the_window_ends_the_client_is_allowed_again()
    {
        var app = TestApps.Quiet();
        var runs = 0;
        app.Get("/publish", (req, res) => res.Text = $"run {Interlocked.Increment(ref runs)}").RateLimit(1, TimeSpan.FromSeconds(2));
        await using var client = app.CreateClient();

        (await client.GetAsync("/publish")).StatusCode.Should().Be(HttpStatusCode.OK);
        using (var refused = await client.GetAsync("/publish"))
        {
            refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
            refused.Headers.GetValues("Retry-After").Single().Should().BeOneOf("1", "2");
        }

        var allowed = false;
        await TestApps.UntilAsync(async () => allowed = (await client.GetAsync("/publish")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        allowed.Should().BeTrue("a new window begins once the first one has ended");
        runs.Should().Be(2);
    }

    [Test]
    public async Task A_window_shorter_than_a_second_still_says_Retry_After_1()
    {
        var app = TestApps.Quiet();
        app.Get("/x", (req, res) => res.Text = "ok").RateLimit(1, TimeSpan.FromMilliseconds(500));
        await using var client = app.CreateClient();

        // Requests in quick succession until one lands inside a window already used (a slow machine may need a few).
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 50 && refused is null; i++)
        {
            var response = await client.GetAsync("/x");
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused = response;
            else response.Dispose();
        }

        refused.Should().NotBeNull();
        refused!.Headers.GetValues("Retry-After").Should().ContainSingle().Which.Should().Be("1", "whole seconds, at least 1");
        refused.Dispose();
    }

    [Test]
    public async Task Clients_behind_a_trusted_proxy_are_limited_separately()
    {
        var app = TestApps.Quiet(s => s.TrustedProxies = ["127.0.0.1"]);
        app.Get("/login", (req, res) => res.Text = req.Client.Host).RateLimit(1, TimeSpan.FromMinutes(1));
        await using var client = app.CreateClient();

        (await StatusAsync(client, From("/login", "203.0.113.7"))).Should().Be(HttpStatusCode.OK);
        (await StatusAsync(client, From("/login", "203.0.113.7"))).Should().Be(HttpStatusCode.TooManyRequests);
        (await StatusAsync(client, From("/login", "203.0.113.8"))).Should().Be(HttpStatusCode.OK, "another client has its own budget");
        (await StatusAsync(client, new HttpRequestMessage(HttpMethod.Get, "/login"))).Should().Be(HttpStatusCode.OK, "the proxy itself is a client too");
    }

    [Test]
    public async Task An_untrusted_X_Forwarded_For_is_ignored()
    {
        var app = TestApps.Quiet();
        app.Get("/login", (req, res) => res.Text = "ok").RateLimit(1, TimeSpan.FromMinutes(1));
        await using var client = app.CreateClient();

        (await StatusAsync(client, From("/login", "203.0.113.7"))).Should().Be(HttpStatusCode.OK);
        (await StatusAsync(client, From("/login", "203.0.113.8"))).Should().Be(HttpStatusCode.TooManyRequests,
            "without TrustedProxies the header is the client's own claim: both requests come from 127.0.0.1");
    }

    [Test]
    public async Task A_router_limit_is_one_budget_for_all_its_routes_and_nothing_else()
    {
        var app = TestApps.Quiet();
        var auth = new Router();
        auth.Post("/login", (req, res) => res.Text = "in");
        auth.RateLimit(3, TimeSpan.FromMinutes(1));
        auth.Post("/reset", (req, res) => res.Text = "reset");   // added after the call: limited too
        app.IncludeRouter(auth, prefix: "/auth");
        app.Get("/", (req, res) => res.Text = "home");
        await using var client = app.CreateClient();

        (await client.PostAsync("/auth/login", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.PostAsync("/auth/reset", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.PostAsync("/auth/login", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.PostAsync("/auth/reset", null)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await client.PostAsync("/auth/login", null)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await client.GetAsync("/")).StatusCode.Should().Be(HttpStatusCode.OK, "routes outside the router are not limited");
    }

    [Test]
    public async Task A_route_limit_and_its_routers_limit_both_apply()
    {
        var app = TestApps.Quiet();
        app.RateLimit(3, TimeSpan.FromMinutes(1));
        app.Post("/login", (req, res) => res.Text = "in").RateLimit(1, TimeSpan.FromMinutes(1));
        app.Get("/a", (req, res) => res.Text = "a");
        await using var client = app.CreateClient();

        (await client.PostAsync("/login", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.PostAsync("/login", null)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "the route's own limit");
        (await client.GetAsync("/a")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.GetAsync("/a")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.GetAsync("/a")).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "the app's limit: 3 across every route");
    }

    [Test]
    public async Task An_event_stream_route_is_limited_before_the_stream_opens()
    {
        var app = TestApps.Quiet();
        var opened = 0;
        app.Get("/feed", (req, res) =>
        {
            Interlocked.Increment(ref opened);
            res.EventStream(Feed());
        }).RateLimit(1, TimeSpan.FromMinutes(1));
        static async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(data: "hello");
            await Task.Delay(Timeout.Infinite, ct);
        }
        await using var client = app.CreateClient();

        await using (var stream = await client.OpenEventsAsync("/feed"))
        {
            await using var events = stream.GetAsyncEnumerator();
            (await events.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Should().BeTrue();
            events.Current.Data.Should().Be("hello");
        }
        using var refused = await client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead);

        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        refused.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        refused.Headers.Contains("Retry-After").Should().BeTrue();
        opened.Should().Be(1);
    }

    [Test]
    public async Task A_websocket_handshake_past_the_limit_is_a_429_before_the_handshake()
    {
        var app = TestApps.Quiet();
        var accepted = 0;
        app.WebSocketRoute("/chat", async ws =>
        {
            Interlocked.Increment(ref accepted);
            await ws.SendTextAsync("hi");
        }).RateLimit(1, TimeSpan.FromMinutes(1));
        await using var client = app.CreateClient();

        using (var socket = await client.WebSocketConnectAsync("/chat"))
            socket.State.Should().Be(System.Net.WebSockets.WebSocketState.Open);
        var again = () => client.WebSocketConnectAsync("/chat");

        (await again.Should().ThrowAsync<System.Net.WebSockets.WebSocketException>()).Which.Message.Should().Contain("429");
        accepted.Should().Be(1);
    }

    [Test]
    public async Task A_flood_of_distinct_addresses_from_a_trusted_proxy_keeps_the_tracked_clients_under_the_cap()
    {
        var app = TestApps.Quiet(s => s.TrustedProxies = ["127.0.0.1"]);
        var route = app.Get("/login", (req, res) => res.Text = "ok").RateLimit(2, TimeSpan.FromMinutes(1));
        var limit = route.RateLimits.Single();
        limit.MaxClients = 50;
        await using var client = app.CreateClient();

        // A client that is inside its window when the flood comes keeps its count: the flood never resets it.
        (await StatusAsync(client, From("/login", "198.51.100.1"))).Should().Be(HttpStatusCode.OK);
        (await StatusAsync(client, From("/login", "198.51.100.1"))).Should().Be(HttpStatusCode.OK);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 300; i++) statuses.Add(await StatusAsync(client, From("/login", $"10.{i / 250}.{i % 250}.1")));

        limit.TrackedClients.Should().Be(50, "at most MaxClients are tracked one by one");
        statuses.Take(49).Should().AllBeEquivalentTo(HttpStatusCode.OK, "the first clients are tracked on their own");
        statuses.Skip(49).Count(s => s == HttpStatusCode.OK).Should().Be(2, "past the cap, new clients share one budget of 2");
        (await StatusAsync(client, From("/login", "198.51.100.1"))).Should().Be(HttpStatusCode.TooManyRequests);
    }

    [Test]
    public void A_million_distinct_clients_cost_at_most_the_cap()
    {
        var limit = new RateLimitPolicy(5, TimeSpan.FromMinutes(1));
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < 5; i++) limit.TryAcquire("victim", now, out _).Should().BeTrue();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);

        var refused = 0;
        for (var i = 0; i < 1_000_000; i++)
            if (!limit.TryAcquire($"ip:{(uint)i * 2654435761u}", now, out _)) refused++;

        var after = GC.GetTotalMemory(forceFullCollection: true);
        limit.TrackedClients.Should().Be(RateLimitPolicy.DefaultMaxClients);
        refused.Should().Be(1_000_000 - (RateLimitPolicy.DefaultMaxClients - 1) - 5, "untracked clients share one budget of 5: nothing fails open");
        limit.TryAcquire("victim", now, out var retryAfter).Should().BeFalse("an active client is never evicted, so never handed a fresh budget");
        retryAfter.Should().BeGreaterThan(TimeSpan.FromSeconds(59));
        var perClient = (after - before) / (double)RateLimitPolicy.DefaultMaxClients;
        TestContext.Out.WriteLine($"{(after - before) / 1e6:F1} MB held for {limit.TrackedClients:N0} tracked clients after 1,000,000 distinct ones: {perClient:F0} B each");
        (after - before).Should().BeLessThan(64L * 1024 * 1024);
        GC.KeepAlive(limit);
    }

    [Test]
    public void Clients_are_forgotten_when_their_window_ends()
    {
        var limit = new RateLimitPolicy(1, TimeSpan.FromSeconds(1)) { MaxClients = 1000 };
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < 1000; i++) limit.TryAcquire($"ip:{i}", start, out _);
        limit.TrackedClients.Should().Be(1000);
        limit.TryAcquire("ip:0", start, out _).Should().BeFalse();

        var later = start + (long)(1.5 * Stopwatch.Frequency);
        limit.TryAcquire("ip:0", later, out _).Should().BeTrue("its window ended: a new one begins");
        limit.TrackedClients.Should().Be(1, "every ended window is forgotten at the next request");
    }

    [Test]
    public void A_window_of_TimeSpan_MaxValue_is_for_ever()
    {
        var limit = new RateLimitPolicy(1, TimeSpan.MaxValue);
        var now = Stopwatch.GetTimestamp();
        limit.TryAcquire("ip:1", now, out _).Should().BeTrue();
        limit.TryAcquire("ip:1", now + Stopwatch.Frequency * 86_400L * 365, out var retryAfter).Should().BeFalse();
        retryAfter.Should().BeGreaterThan(TimeSpan.FromDays(365 * 30), "clamped to decades, never overflowing into a negative wait");
    }

    [TestCase("203.0.113.7", "ip:203.0.113.7")]
    [TestCase("::ffff:203.0.113.7", "ip:203.0.113.7")]
    [TestCase("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "ip:2001:db8:1:2::/64")]
    [TestCase("2001:db8:1:2::1", "ip:2001:db8:1:2::/64")]
    [TestCase("", "ip:")]
    public void A_client_counts_as_its_address_and_an_IPv6_client_as_its_64(string host, string key) =>
        RateLimitKey.Address(host).Should().Be(key);

    [Test]
    public void A_wrong_call_says_what_to_pass()
    {
        var route = new App().Get("/x", (req, res) => { });
        route.Invoking(r => r.RateLimit(0, TimeSpan.FromMinutes(1))).Should().Throw<ArgumentOutOfRangeException>()
            .WithParameterName("permits").WithMessage("RateLimit needs at least 1 permit per window*.RateLimit(5, TimeSpan.FromMinutes(1))*");
        route.Invoking(r => r.RateLimit(5, TimeSpan.Zero)).Should().Throw<ArgumentOutOfRangeException>()
            .WithParameterName("window").WithMessage("RateLimit's window must be a positive duration*");
        new Router().Invoking(r => r.RateLimit(-1, TimeSpan.FromSeconds(1))).Should().Throw<ArgumentOutOfRangeException>();
        new Router().Invoking(r => r.RateLimit(1, TimeSpan.FromSeconds(-1))).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Test]
    public async Task An_app_limit_cannot_be_added_once_serving()
    {
        var app = TestApps.Quiet();
        app.Get("/", (req, res) => res.Text = "ok");
        await using var client = app.CreateClient();

        app.Invoking(a => a.RateLimit(1, TimeSpan.FromSeconds(1))).Should().Throw<InvalidOperationException>().WithMessage("RateLimit: the app has started serving*");
    }
}
