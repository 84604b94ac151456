using System.Net;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using NUnit.Framework;

namespace Bocata.Tests.Identity;

public class JwtBearerTests
{
    private static App Me(App app)
    {
        app.Get("/me", (req, res) => res.Json = new
        {
            name = req.User.Identity!.Name,
            authenticated = req.User.Identity.IsAuthenticated,
            admin = req.User.IsInRole("admin"),
        });
        app.Get("/private", (req, res) => res.Text = "secret").Requires("authenticated");
        return app;
    }

    [Test]
    public async Task A_valid_bearer_token_signs_the_request_in_as_its_subject()
    {
        await using var client = Me(Tokens.App()).CreateClient();

        var me = await (await client.SendAsync(Tokens.Get("/me", Tokens.Issue("42", new() { ["role"] = "admin" })))).JsonAsync();

        me.GetProperty("name").GetString().Should().Be("42");
        me.GetProperty("authenticated").GetBoolean().Should().BeTrue();
        me.GetProperty("admin").GetBoolean().Should().BeTrue("the token's role claim is the identity's role claim type");
    }

    [Test]
    public async Task Without_a_credential_req_User_is_anonymous_never_null()
    {
        await using var client = Me(TestApps.Quiet()).CreateClient();

        var me = await (await client.GetAsync("/me")).JsonAsync();

        me.GetProperty("authenticated").GetBoolean().Should().BeFalse();
        me.GetProperty("name").ValueKind.Should().Be(System.Text.Json.JsonValueKind.Null);
    }

    [Test]
    public async Task An_alg_none_token_is_refused_with_invalid_token()
    {
        await using var client = Me(Tokens.App()).CreateClient();

        var open = await (await client.SendAsync(Tokens.Get("/me", Tokens.Unsigned()))).JsonAsync();
        var guarded = await client.SendAsync(Tokens.Get("/private", Tokens.Unsigned()));

        open.GetProperty("authenticated").GetBoolean().Should().BeFalse("a route without Requires serves everyone, as anonymous");
        guarded.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        guarded.Headers.WwwAuthenticate.ToString().Should().Be("Bearer error=\"invalid_token\", error_description=\"The token is not signed.\"");
    }

    [Test]
    public async Task An_HS256_token_signed_with_the_apps_RSA_public_key_is_refused()
    {
        // Algorithm confusion: the public key is public, so an HMAC keyed with it is a forgery anyone can make.
        var (signer, trusted, publicDer) = Tokens.Rsa();
        await using var client = Me(Tokens.App(trusted)).CreateClient();
        var genuine = Tokens.Issue("7", signing: new SigningCredentials(signer, SecurityAlgorithms.RsaSha256));
        var forged = Tokens.Issue("666", signing: new SigningCredentials(new SymmetricSecurityKey(publicDer) { KeyId = "k1" }, SecurityAlgorithms.HmacSha256));

        var ok = await client.SendAsync(Tokens.Get("/private", genuine));
        var refused = await client.SendAsync(Tokens.Get("/private", forged));

        ok.StatusCode.Should().Be(HttpStatusCode.OK);
        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        refused.Headers.WwwAuthenticate.ToString().Should().Contain("error=\"invalid_token\"");
    }

    [Test]
    public async Task An_expired_token_is_a_401_that_says_when_it_expired_but_open_routes_still_answer()
    {
        await using var client = Me(Tokens.App(configure: s => s.Jwt!.ClockSkew = TimeSpan.Zero)).CreateClient();
        var expiredAt = DateTime.UtcNow.AddMinutes(-1);
        var token = Tokens.Issue(expires: expiredAt);

        var guarded = await client.SendAsync(Tokens.Get("/private", token));
        var open = await client.SendAsync(Tokens.Get("/me", token));

        guarded.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        var expected = $"The token expired at {expiredAt:yyyy-MM-ddTHH:mm:ss}Z.";
        guarded.Headers.WwwAuthenticate.ToString().Should().Be($"Bearer error=\"invalid_token\", error_description=\"{expected}\"");
        var body = await guarded.JsonAsync();
        body.GetProperty("error").GetString().Should().Be("401 Unauthorized");
        body.GetProperty("status").GetInt32().Should().Be(401);
        body.GetProperty("detail").GetString().Should().Be(expected);
        open.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [TestCase("audience", "The token is for another audience.")]
    [TestCase("signature", "The token's signature does not verify.")]
    [TestCase("future", "The token is not valid yet.")]
    [TestCase("garbage", "The token is malformed.")]
    public async Task A_refused_token_is_described_without_the_libraries_words(string defect, string description)
    {
        await using var client = Me(Tokens.App()).CreateClient();
        var token = defect switch
        {
            "audience" => Tokens.Issue(audience: "another-api"),
            "signature" => Tokens.Issue(signing: new SigningCredentials(new SymmetricSecurityKey(new byte[32]), SecurityAlgorithms.HmacSha256)),
            "future" => Tokens.Issue(notBefore: DateTime.UtcNow.AddHours(1), expires: DateTime.UtcNow.AddHours(2)),
            _ => "not.a.token",
        };

        var response = await client.SendAsync(Tokens.Get("/private", token));

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ToString().Should().Be($"Bearer error=\"invalid_token\", error_description=\"{description}\"");
        (await response.TextAsync()).Should().NotContain("IDX", "IdentityModel's messages name keys and internals");
    }

    [Test]
    public async Task No_token_on_a_guarded_route_is_a_401_with_a_bare_Bearer_challenge()
    {
        await using var client = Me(Tokens.App()).CreateClient();

        var response = await client.GetAsync("/private");

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ToString().Should().Be("Bearer");
        (await response.JsonAsync()).GetProperty("error").GetString().Should().Be("401 Unauthorized");
    }

    [Test]
    public async Task A_token_without_the_scope_is_a_403_with_an_insufficient_scope_challenge()
    {
        var app = Tokens.App();
        app.Get("/orders", (req, res) => res.Text = "orders").Requires("orders.read");
        await using var client = app.CreateClient();

        var lacking = await client.SendAsync(Tokens.Get("/orders", Tokens.Issue(claims: new() { ["scope"] = "profile orders.write" })));
        var having = await client.SendAsync(Tokens.Get("/orders", Tokens.Issue(claims: new() { ["scope"] = "profile orders.read" })));

        lacking.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        lacking.Headers.WwwAuthenticate.ToString().Should().Be("Bearer error=\"insufficient_scope\", scope=\"orders.read\"");
        (await lacking.JsonAsync()).GetProperty("detail").GetString().Should().Contain("orders.read");
        (await having.TextAsync()).Should().Be("orders");
    }

    [Test]
    public async Task Access_token_in_the_query_is_accepted_for_an_EventSource_GET_only()
    {
        await using var client = Me(Tokens.App()).CreateClient();
        var token = Tokens.Issue("42");

        using var eventSource = new HttpRequestMessage(HttpMethod.Get, $"/private?access_token={token}");
        eventSource.Headers.Accept.ParseAdd("text/event-stream");
        var fromEventSource = await client.SendAsync(eventSource);
        var plain = await client.GetAsync($"/private?access_token={token}");
        using var post = new HttpRequestMessage(HttpMethod.Post, $"/private?access_token={token}");
        post.Headers.Accept.ParseAdd("text/event-stream");

        fromEventSource.StatusCode.Should().Be(HttpStatusCode.OK);
        plain.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "a token in an ordinary link must not act");
        plain.Headers.WwwAuthenticate.ToString().Should().Be("Bearer");
    }

    [Test]
    public async Task Access_token_in_the_query_is_accepted_for_a_WebSocket_handshake()
    {
        var app = Tokens.App();
        app.WebSocketRoute("/ws", async ws => await ws.SendTextAsync(ws.User.Identity!.Name!)).Requires("authenticated");
        await using var client = app.CreateClient();

        using var socket = await client.WebSocketConnectAsync($"/ws?access_token={Tokens.Issue("alice")}");
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
        var refused = async () => { using var anonymous = await client.WebSocketConnectAsync("/ws"); };

        System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("alice");
        (await refused.Should().ThrowAsync<System.Net.WebSockets.WebSocketException>()).Which.Message.Should().Contain("401");
    }

    [Test]
    public async Task The_query_token_never_reaches_the_logs()
    {
        var logs = new Middleware.ErrorHandlingTests.ListLoggerProvider();
        var token = Tokens.Issue("42");
        var app = new App();
        app.Configure(s =>
        {
            s.StaticDir = null;
            s.Jwt = Tokens.Parameters();
            s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        });
        app.Get("/events", (req, res) => throw new InvalidOperationException("boom")).Requires("authenticated");
        await using (var client = app.CreateClient())
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/events?access_token={token}");
            request.Headers.Accept.ParseAdd("text/event-stream");
            var response = await client.SendAsync(request);
            response.StatusCode.Should().Be(HttpStatusCode.InternalServerError, "the token was accepted and the handler ran");
            (await response.TextAsync()).Should().NotContain(token);
        }
        lock (logs.Messages)
        {
            logs.Messages.Should().Contain(m => m.Contains("GET /events 500"));
            logs.Messages.Should().NotContain(m => m.Contains(token) || m.Contains("access_token"));
        }
    }

    [Test]
    public void Parameters_that_could_never_accept_a_token_fail_at_startup_saying_what_to_set()
    {
        var noKey = TestApps.Quiet(s => s.Jwt = new TokenValidationParameters { ValidIssuer = "i", ValidAudience = "a" });
        var unsigned = TestApps.Quiet(s => { s.Jwt = Tokens.Parameters(); s.Jwt.RequireSignedTokens = false; });
        var noAudience = TestApps.Quiet(s => s.Jwt = new TokenValidationParameters { ValidIssuer = "i", IssuerSigningKey = Tokens.Key });

        FluentActions.Invoking(() => noKey.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*IssuerSigningKey*");
        FluentActions.Invoking(() => unsigned.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*never accepts unsigned tokens*");
        FluentActions.Invoking(() => noAudience.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*ValidAudience*");
    }

    [Test]
    public async Task The_apps_parameters_are_not_changed()
    {
        var parameters = Tokens.Parameters();
        var app = TestApps.Quiet(s => s.Jwt = parameters);
        await using var client = app.CreateClient();

        parameters.NameClaimType.Should().Be(System.Security.Claims.ClaimsIdentity.DefaultNameClaimType);
    }
}
