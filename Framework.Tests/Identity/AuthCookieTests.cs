using System.Net;
using System.Security.Claims;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.AspNetCore.WebUtilities;
using NUnit.Framework;

namespace Bocata.Tests.Identity;

public class AuthCookieTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef-auth-secret";
    private const string OldSecret = "fedcba9876543210fedcba9876543210-old-secret!";

    private static App NewApp(string secret = Secret, Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(s =>
        {
            s.AuthCookie = true;
            s.SecretKey = secret;
            configure?.Invoke(s);
        });
        app.Post("/login", (req, res) => res.SignIn(Tokens.User("ana", "editor")));
        app.Post("/login-briefly", (req, res) => res.SignIn(Tokens.User("ana"), TimeSpan.FromMinutes(5)));
        app.Post("/logout", (req, res) => res.SignOut());
        app.Get("/me", (req, res) => res.Text = req.User.Identity!.IsAuthenticated ? $"{req.User.Identity.Name} {req.User.IsInRole("editor")}" : "anonymous");
        app.Get("/edit", (req, res) => res.Text = "editing").Requires("editor");
        return app;
    }

    private static async Task<string> SignInAsync(HttpClient client, string path = "/login")
    {
        var response = await client.PostAsync(path, null);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return response.Headers.GetValues("Set-Cookie").Single();
    }

    private static async Task<string> MeAsync(HttpClient client, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/me");
        if (cookie is not null) request.Headers.Add("Cookie", cookie);
        return await (await client.SendAsync(request)).TextAsync();
    }

    private static HttpClient Bare(TestClient client) => new() { BaseAddress = client.BaseAddress };

    [Test]
    public async Task SignIn_sets_an_httponly_lax_cookie_for_fourteen_days_that_signs_later_requests_in()
    {
        await using var client = NewApp().CreateClient();

        var setCookie = await SignInAsync(client);

        setCookie.Should().StartWith("bocata_auth=").And.Contain("httponly").And.Contain("samesite=lax")
            .And.Contain($"max-age={(int)TimeSpan.FromDays(14).TotalSeconds}").And.NotContain("secure", "the app is served over http");
        (await client.GetStringAsync("/me")).Should().Be("ana True");
        (await client.GetStringAsync("/edit")).Should().Be("editing");
    }

    [Test]
    public async Task The_cookie_is_encrypted_the_client_cannot_read_the_claims()
    {
        await using var client = NewApp().CreateClient();

        var value = (await SignInAsync(client)).Split(';')[0]["bocata_auth=".Length..];
        var bytes = WebEncoders.Base64UrlDecode(value);

        System.Text.Encoding.Latin1.GetString(bytes).Should().NotContain("ana").And.NotContain("editor");
    }

    [Test]
    public async Task A_tampered_cookie_signs_nobody_in()
    {
        await using var client = NewApp().CreateClient();
        var value = (await SignInAsync(client)).Split(';')[0]["bocata_auth=".Length..];
        var bytes = WebEncoders.Base64UrlDecode(value);
        bytes[^1] ^= 1;
        using var bare = Bare(client);

        (await MeAsync(bare, "bocata_auth=" + value)).Should().Be("ana True", "the untouched cookie works without the client's jar");
        (await MeAsync(bare, "bocata_auth=" + WebEncoders.Base64UrlEncode(bytes))).Should().Be("anonymous");
        (await MeAsync(bare, "bocata_auth=not-base64!!")).Should().Be("anonymous");
    }

    [Test]
    public async Task Two_sign_in_cookies_sign_nobody_in_whichever_comes_last()
    {
        // Security round 4 re-attack: the last of two bocata_auth cookies won, so a cookie planted by a sibling subdomain
        // could sign the user in as the attacker.
        await using var client = NewApp().CreateClient();
        var value = (await SignInAsync(client)).Split(';')[0];
        using var bare = Bare(client);

        (await MeAsync(bare, value)).Should().Be("ana True");
        (await MeAsync(bare, $"{value}; {value}")).Should().Be("anonymous");
        (await MeAsync(bare, $"{value}; bocata_auth=planted")).Should().Be("anonymous");
    }

    [Test]
    public async Task A_cookie_past_its_lifetime_signs_nobody_in_whatever_the_browser_keeps()
    {
        var clock = new FakeClock(DateTimeOffset.UtcNow);
        await using var client = NewApp(configure: s => s.Clock = clock).CreateClient();
        var cookie = (await SignInAsync(client, "/login-briefly")).Split(';')[0];
        using var bare = Bare(client);

        clock.Now += TimeSpan.FromMinutes(4);
        var before = await MeAsync(bare, cookie);
        clock.Now += TimeSpan.FromMinutes(2);
        var after = await MeAsync(bare, cookie);

        (before, after).Should().Be(("ana False", "anonymous"));
    }

    [Test]
    public async Task SignOut_clears_the_cookie()
    {
        await using var client = NewApp().CreateClient();
        await SignInAsync(client);

        var response = await client.PostAsync("/logout", null);

        response.Headers.GetValues("Set-Cookie").Single().Should().StartWith("bocata_auth=;").And.Contain("max-age=0");
        (await client.GetStringAsync("/me")).Should().Be("anonymous");
    }

    [Test]
    public async Task A_cookie_sealed_under_a_previous_secret_opens_only_while_it_is_listed()
    {
        string cookie;
        await using (var old = NewApp(OldSecret).CreateClient())
            cookie = (await SignInAsync(old)).Split(';')[0];
        await using var rotated = NewApp(configure: s => s.PreviousSecretKeys = [OldSecret]).CreateClient();
        await using var forgotten = NewApp().CreateClient();
        using var rotatedBare = Bare(rotated);
        using var forgottenBare = Bare(forgotten);

        (await MeAsync(rotatedBare, cookie)).Should().Be("ana True");
        (await MeAsync(forgottenBare, cookie)).Should().Be("anonymous");
    }

    [Test]
    public async Task A_session_cookie_key_does_not_open_sign_in_cookies()
    {
        // Same secret, another purpose: the sign-in cookie's key is derived apart from the session cookie's.
        AuthCookie.DeriveKey(Secret).Should().NotEqual(SessionCookie.DeriveKey(Secret));
        await Task.CompletedTask;
    }

    [Test]
    public async Task Misuse_of_SignIn_says_how_to_fix_it()
    {
        var off = TestApps.Quiet();
        off.Post("/login", (req, res) =>
        {
            try
            {
                res.SignIn(Tokens.User("ana"));
            }
            catch (InvalidOperationException e)
            {
                res.Text = e.Message;
            }
        });
        var on = NewApp();
        on.Post("/anonymous-login", (req, res) =>
        {
            try
            {
                res.SignIn(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "ana")])));
            }
            catch (ArgumentException e)
            {
                res.Text = e.Message;
            }
        });
        await using var offClient = off.CreateClient();
        await using var onClient = on.CreateClient();

        (await (await offClient.PostAsync("/login", null)).TextAsync()).Should().Contain("s.AuthCookie = true");
        (await (await onClient.PostAsync("/anonymous-login", null)).TextAsync()).Should().Contain("authentication type");
    }

    [Test]
    public void AuthCookie_without_a_secret_fails_at_startup_saying_what_to_set()
    {
        var app = TestApps.Quiet(s =>
        {
            s.AuthCookie = true;
            s.SecretKey = "short";
        });

        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*SECRET_KEY*");
    }

    [Test]
    public async Task A_failed_request_does_not_sign_in()
    {
        var app = NewApp();
        app.Post("/login-then-fail", (req, res) =>
        {
            res.SignIn(Tokens.User("ana"));
            throw new HttpError(400, "wrong password");
        });
        await using var client = app.CreateClient();

        var response = await client.PostAsync("/login-then-fail", null);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Headers.Contains("Set-Cookie").Should().BeFalse();
    }

    [Test]
    public async Task A_sign_in_followed_by_a_redirect_is_kept()
    {
        var app = NewApp();
        app.Post("/login-then-home", (req, res) =>
        {
            res.SignIn(Tokens.User("ana"));
            throw new Redirect("/me");
        });
        await using var client = app.CreateClient();
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = client.BaseAddress };

        var response = await noRedirects.PostAsync("/login-then-home", null);

        response.StatusCode.Should().Be(HttpStatusCode.Found);
        var cookie = response.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        (await MeAsync(noRedirects, cookie)).Should().Be("ana False");
    }

    private sealed class FakeClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
