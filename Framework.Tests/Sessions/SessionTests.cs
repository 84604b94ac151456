using System.Net;
using Bocata.Testing;
using Bocata.Tests.Middleware;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Bocata.Tests.Sessions;

public class SessionTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef-test-secret";

    private static App NewApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Secret;
            configure?.Invoke(s);
        });
        app.Route("/visit", (req, res) =>
        {
            var visits = req.Session.Get<int>("visits") + 1;
            req.Session.Set("visits", visits);
            res.Text = $"{visits}";
        });
        app.Route("/logout", (req, res) => req.Session.Clear());
        return app;
    }

    private static async Task<(string Body, string? Cookie)> VisitAsync(HttpClient client, string path, string? cookie, bool https = false)
    {
        var (body, setCookie) = await SendAsync(client, path, cookie, https);
        return (body, setCookie?.Split(';')[0]);
    }

    /// <summary>The body and the whole Set-Cookie header; <paramref name="https"/> says the request came through a TLS proxy
    /// (X-Forwarded-Proto, believed when the app trusts 127.0.0.1).</summary>
    private static async Task<(string Body, string? SetCookie)> SendAsync(HttpClient client, string path, string? cookie, bool https = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (cookie is not null) request.Headers.Add("Cookie", cookie);
        if (https) request.Headers.Add("X-Forwarded-Proto", "https");
        // These tests hand each request its cookie: the test client's own jar is emptied first.
        if (client is TestClient test) foreach (System.Net.Cookie kept in test.Cookies.GetAllCookies()) kept.Expired = true;
        using var response = await client.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var setCookie = response.Headers.TryGetValues("Set-Cookie", out var values) ? values.First() : null;
        return (await response.Content.ReadAsStringAsync(), setCookie);
    }

    private static string Signed(int visits) =>
        SessionCookie.Write(new Dictionary<string, string> { ["visits"] = $"{visits}" }, SessionCookie.DeriveKey(Secret), DateTimeOffset.UtcNow);

    [Test]
    public async Task Two_session_cookies_in_one_request_are_an_empty_session_and_a_warning()
    {
        var logs = new ErrorHandlingTests.ListLoggerProvider();
        await using var client = NewApp(s => s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs))).CreateClient();

        // A cookie tossed from a subdomain (Domain=.example.com) or set for a longer path arrives beside the user's own: which
        // one the user meant cannot be known, so neither is believed (reading the last let the tossed one win).
        (await VisitAsync(client, "/visit", $"session={Signed(5)}; session={Signed(41)}")).Body.Should().Be("1");
        (await VisitAsync(client, "/visit", $"session={Signed(41)}; session=garbage")).Body.Should().Be("1");
        logs.Messages.Should().Contain(m => m.StartsWith("Warning") && m.Contains("2 session cookies"));

        (await VisitAsync(client, "/visit", $"session={Signed(41)}")).Body.Should().Be("42", "one cookie is not ambiguous");
        (await VisitAsync(client, "/visit", $"other=1; other=2; session={Signed(41)}")).Body.Should().Be("42", "only the session's name counts");
    }

    [Test]
    public async Task Over_https_the_cookie_is_host_prefixed_and_read_only_there()
    {
        await using var client = NewApp(s => s.TrustedProxies = ["127.0.0.1"]).CreateClient();

        var (_, setCookie) = await SendAsync(client, "/visit", null, https: true);

        // __Host- (RFC 6265bis section 4.1.3.2): only a Secure cookie of this very host, for Path=/, may have this name, so no
        // subdomain and no http:// page can set one beside it.
        setCookie.Should().StartWith("__Host-session=").And.Contain("; secure").And.Contain("; path=/").And.NotContainEquivalentOf("domain=");
        var cookie = setCookie!.Split(';')[0];
        (await VisitAsync(client, "/visit", cookie, https: true)).Body.Should().Be("2");
        (await VisitAsync(client, "/visit", cookie, https: false)).Body.Should().Be("1", "over http the prefixed name is not read");
        (await VisitAsync(client, "/visit", $"session={Signed(41)}", https: true)).Body.Should().Be("1", "over https the plain name is not read");
        (await VisitAsync(client, "/visit", $"{cookie}; session={Signed(41)}", https: true)).Body.Should().Be("2", "the plain one beside it is not a duplicate");
        (await VisitAsync(client, "/visit", $"{cookie}; {cookie}", https: true)).Body.Should().Be("1", "two prefixed ones are");

        var (_, deleted) = await SendAsync(client, "/logout", cookie, https: true);
        deleted.Should().StartWith("__Host-session=;").And.Contain("max-age=0").And.Contain("; secure").And.Contain("; path=/");
        var (_, plain) = await SendAsync(client, "/visit", null, https: false);
        plain.Should().StartWith("session=").And.NotContain("secure");
    }

    [Test]
    public async Task The_session_survives_requests_in_a_signed_httponly_cookie()
    {
        await using var client = NewApp().CreateClient();

        var (first, cookie) = await VisitAsync(client, "/visit", null);
        var (second, cookie2) = await VisitAsync(client, "/visit", cookie);
        var (third, _) = await VisitAsync(client, "/visit", cookie2);

        (first, second, third).Should().Be(("1", "2", "3"));
        var raw = await client.GetAsync("/visit");
        raw.Headers.GetValues("Set-Cookie").Single().Should().Contain("httponly").And.Contain("samesite=lax");
    }

    [Test]
    public async Task A_tampered_cookie_is_ignored()
    {
        await using var client = NewApp().CreateClient();
        var (_, cookie) = await VisitAsync(client, "/visit", null);
        var (_, cookie2) = await VisitAsync(client, "/visit", cookie);
        var value = cookie2!["session=".Length..];
        var forged = SessionCookie.Write(new Dictionary<string, string> { ["visits"] = "1000" }, SessionCookie.DeriveKey("another key of at least thirty-two chars"), DateTimeOffset.UtcNow);

        (await VisitAsync(client, "/visit", "session=" + forged)).Body.Should().Be("1");
        (await VisitAsync(client, "/visit", "session=" + value[..^2] + "xx")).Body.Should().Be("1");
        (await VisitAsync(client, "/visit", "session=garbage")).Body.Should().Be("1");
    }

    [Test]
    public async Task Clearing_the_session_deletes_the_cookie()
    {
        await using var client = NewApp().CreateClient();
        var (_, cookie) = await VisitAsync(client, "/visit", null);

        // The client's jar holds the cookie too: sent beside the header, it would be a second session cookie.
        var (_, deleted) = await SendAsync(client, "/logout", cookie);

        deleted.Should().StartWith("session=;").And.Contain("max-age=0");
    }

    [Test]
    public async Task Sessions_need_a_secret_and_say_so()
    {
        Environment.SetEnvironmentVariable("SECRET_KEY", null);
        var app = TestApps.Quiet(s => s.Sessions = true);
        app.Route("/", (req, res) => { });
        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*SECRET_KEY*");

        var off = TestApps.Quiet();
        Exception? error = null;
        off.Route("/", (req, res) =>
        {
            try { _ = req.Session; }
            catch (Exception e) { error = e; }
        });
        await using var client = off.CreateClient();
        (await client.GetAsync("/")).StatusCode.Should().Be(HttpStatusCode.OK);
        error.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("s.Sessions = true");
    }

    private sealed class FakeClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Test]
    public async Task A_cookie_older_than_SessionMaxAge_is_an_empty_session_on_the_server()
    {
        var clock = new FakeClock(DateTimeOffset.UtcNow);
        var app = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Secret;
            s.SessionMaxAge = TimeSpan.FromHours(1);
            s.Clock = clock;
        });
        app.Route("/visit", (req, res) =>
        {
            var visits = req.Session.Get<int>("visits") + 1;
            req.Session.Set("visits", visits);
            res.Text = $"{visits}";
        });
        await using var client = app.CreateClient();
        var (_, captured) = await VisitAsync(client, "/visit", null);
        (await VisitAsync(client, "/visit", captured)).Body.Should().Be("2", "fresh: still valid");

        // The browser would have dropped it; an attacker who captured it replays it after the hour.
        clock.Now += TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1);
        (await VisitAsync(client, "/visit", captured)).Body.Should().Be("1", "the signed issue time is older than SessionMaxAge");
    }

    [Test]
    public async Task Rotated_secrets_still_verify_but_never_sign()
    {
        const string oldSecret = "an-older-secret-of-at-least-32-characters!";
        var oldCookie = "session=" + SessionCookie.Write(new Dictionary<string, string> { ["visits"] = "41" }, SessionCookie.DeriveKey(oldSecret), DateTimeOffset.UtcNow);
        var app = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Secret;
            s.PreviousSecretKeys = [oldSecret];
        });
        app.Route("/visit", (req, res) =>
        {
            var visits = req.Session.Get<int>("visits") + 1;
            req.Session.Set("visits", visits);
            res.Text = $"{visits}";
        });
        await using var client = app.CreateClient();

        var (body, renewed) = await VisitAsync(client, "/visit", oldCookie);
        body.Should().Be("42", "a cookie signed with a previous secret is accepted");
        var withoutOld = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Secret;
        });
        withoutOld.Route("/visit", (req, res) => res.Text = $"{req.Session.Get<int>("visits")}");
        await using var current = withoutOld.CreateClient();
        (await VisitAsync(current, "/visit", renewed)).Body.Should().Be("42", "the renewed cookie is signed with the current secret");
        (await VisitAsync(current, "/visit", oldCookie)).Body.Should().Be("0", "once the old secret is removed, its cookies are void");
    }

    [Test]
    public async Task The_signing_key_is_derived_never_the_secret_itself()
    {
        // A cookie signed with the raw secret (the old format) must not verify.
        var raw = "session=" + SessionCookie.Write(new Dictionary<string, string> { ["visits"] = "9" }, System.Text.Encoding.UTF8.GetBytes(Secret), DateTimeOffset.UtcNow);
        await using var client = NewApp().CreateClient();
        (await VisitAsync(client, "/visit", raw)).Body.Should().Be("1");
    }
}
