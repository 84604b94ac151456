using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Middleware;

/// <summary>Cross-site request forgery on apps with cookie sessions: a page of another origin (another site, or another port of
/// this one, which SameSite=Lax does not stop) cannot send an unsafe request with the user's session cookie.</summary>
public class CrossOriginTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef-test-secret";

    private sealed class Counter
    {
        public int Runs;
    }

    private static (App App, Counter Counter) SessionApp(Action<Settings>? configure = null)
    {
        var counter = new Counter();
        var app = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Secret;
            configure?.Invoke(s);
        });
        app.Route("/login", (req, res) =>
        {
            Interlocked.Increment(ref counter.Runs);
            req.Session["user"] = "attacker";
            res.Text = "signed in";
        }, "GET", "POST", "PUT", "PATCH", "DELETE");
        return (app, counter);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string? origin = null, string? fetchSite = null, Action<HttpRequestMessage>? more = null)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), "/login") { Content = new StringContent("user=attacker") };
        if (origin is not null) request.Headers.TryAddWithoutValidation("Origin", origin);
        if (fetchSite is not null) request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", fetchSite);
        more?.Invoke(request);
        return await client.SendAsync(request);
    }

    [TestCase("POST", "https://evil.example")]
    [TestCase("PUT", "https://evil.example")]
    [TestCase("PATCH", "https://evil.example")]
    [TestCase("DELETE", "https://evil.example")]
    [TestCase("POST", "null")]
    public async Task An_unsafe_request_from_another_origin_is_403_and_the_handler_does_not_run(string method, string origin)
    {
        var (app, counter) = SessionApp();
        await using var client = app.CreateClient();

        using var response = await SendAsync(client, method, origin);

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        var detail = (await response.JsonAsync()).GetProperty("detail").GetString();
        detail.Should().Contain($"'{origin}'").And.Contain("CheckOrigin");
        response.Headers.Contains("Set-Cookie").Should().BeFalse("no session was started");
        counter.Runs.Should().Be(0);
    }

    [Test]
    public async Task A_page_on_another_port_of_the_same_host_is_another_origin()
    {
        var (app, counter) = SessionApp();
        await using var client = app.CreateClient();
        var otherPort = client.BaseAddress!.Port == 8081 ? 8082 : 8081;

        using var response = await SendAsync(client, "POST", $"http://{client.BaseAddress.Host}:{otherPort}");

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden, "same site, but another origin: SameSite=Lax sends the cookie");
        counter.Runs.Should().Be(0);
    }

    [Test]
    public async Task The_apps_own_origin_requests_without_origin_and_safe_methods_pass()
    {
        var (app, counter) = SessionApp();
        await using var client = app.CreateClient();
        var own = $"http://{client.BaseAddress!.Authority}";

        (await SendAsync(client, "POST", own)).StatusCode.Should().Be(HttpStatusCode.OK, "the app's own page");
        (await SendAsync(client, "DELETE", own + "/")).StatusCode.Should().Be(HttpStatusCode.OK, "a trailing slash is the same origin");
        (await SendAsync(client, "POST")).StatusCode.Should().Be(HttpStatusCode.OK, "curl or another server: no Origin, no Sec-Fetch-Site");
        (await SendAsync(client, "POST", fetchSite: "same-origin")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await SendAsync(client, "POST", fetchSite: "none")).StatusCode.Should().Be(HttpStatusCode.OK, "typed by the user");
        (await SendAsync(client, "GET", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.OK, "GET changes nothing; links must work");
        counter.Runs.Should().Be(6);
    }

    [TestCase("cross-site")]
    [TestCase("same-site")]
    public async Task Without_origin_sec_fetch_site_of_another_origin_is_refused(string site)
    {
        var (app, counter) = SessionApp();
        await using var client = app.CreateClient();

        using var response = await SendAsync(client, "POST", fetchSite: site);

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await response.JsonAsync()).GetProperty("detail").GetString().Should().Contain(site);
        counter.Runs.Should().Be(0);
    }

    [Test]
    public async Task Behind_a_trusted_proxy_the_own_origin_is_the_forwarded_one()
    {
        var (app, _) = SessionApp(s => s.TrustedProxies = ["127.0.0.1"]);
        await using var client = app.CreateClient();
        void Forwarded(HttpRequestMessage r)
        {
            r.Headers.Add("X-Forwarded-Proto", "https");
            r.Headers.Add("X-Forwarded-Host", "example.com");
        }

        (await SendAsync(client, "POST", "https://example.com", more: Forwarded)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await SendAsync(client, "POST", "https://example.com:8443", more: Forwarded)).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await SendAsync(client, "POST", $"http://{client.BaseAddress!.Authority}", more: Forwarded)).StatusCode.Should()
            .Be(HttpStatusCode.Forbidden, "the browser is at https://example.com, not at the proxy's upstream address");
    }

    [Test]
    public async Task Cors_origins_are_allowed_but_not_the_wildcard()
    {
        var (listed, _) = SessionApp(s => s.Cors = new CorsSettings { AllowOrigins = ["https://spa.example"], AllowCredentials = true });
        await using var client = listed.CreateClient();
        (await SendAsync(client, "POST", "https://spa.example")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await SendAsync(client, "POST", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.Forbidden);

        // "*" never carries cookies through CORS, but a form post carries them without CORS: it allows no one here.
        var (any, _) = SessionApp(s => s.Cors = new CorsSettings { AllowOrigins = ["*"] });
        await using var anyClient = any.CreateClient();
        (await SendAsync(anyClient, "POST", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
    }

    [Test]
    public async Task CheckOrigin_false_turns_it_off_and_apps_without_sessions_are_not_checked()
    {
        var (off, offCounter) = SessionApp(s => s.CheckOrigin = false);
        await using var offClient = off.CreateClient();
        (await SendAsync(offClient, "POST", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.OK);
        offCounter.Runs.Should().Be(1);

        var plain = TestApps.Quiet();
        plain.Post("/login", (req, res) => res.Text = "no cookies here");
        await using var plainClient = plain.CreateClient();
        (await SendAsync(plainClient, "POST", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public async Task Apps_that_sign_in_with_the_auth_cookie_are_checked_too()
    {
        // Security round 4 re-attack: the check was on only with sessions; a cookie sign-in (s.AuthCookie, no sessions) let
        // another origin post as the user (join a room, sign them out) with a body that needs no preflight.
        var runs = 0;
        var app = TestApps.Quiet(s =>
        {
            s.AuthCookie = true;
            s.SecretKey = Secret;
        });
        app.Route("/login", (req, res) =>
        {
            Interlocked.Increment(ref runs);
            res.Text = "ran";
        }, "GET", "POST");
        await using var client = app.CreateClient();

        (await SendAsync(client, "POST", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await SendAsync(client, "POST", fetchSite: "same-site")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        runs.Should().Be(0);
        (await SendAsync(client, "POST")).StatusCode.Should().Be(HttpStatusCode.OK, "no origin named: not a browser");
        (await SendAsync(client, "GET", "https://evil.example")).StatusCode.Should().Be(HttpStatusCode.OK, "safe methods pass");
    }

    [Test]
    public async Task An_error_handler_of_the_app_shapes_the_refusal()
    {
        var (app, _) = SessionApp();
        app.ErrorHandler<HttpError>(ErrorHandlers.ToText);
        await using var client = app.CreateClient();

        using var response = await SendAsync(client, "POST", "https://evil.example");

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await response.TextAsync()).Should().Contain("'https://evil.example'");
    }
}
