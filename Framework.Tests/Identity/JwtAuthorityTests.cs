using System.Net;
using System.Security.Cryptography;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using NUnit.Framework;

namespace Bocata.Tests.Identity;

/// <summary><c>s.JwtAuthority</c> against an OpenID Connect provider served by a second local server: its discovery document and
/// JWKS, with keys rotated mid-test.</summary>
public class JwtAuthorityTests
{
    /// <summary>A provider: /.well-known/openid-configuration and /jwks, serving the public halves of <see cref="Keys"/>.</summary>
    private sealed class Provider : IAsyncDisposable
    {
        private readonly TestClient _server;

        public Provider()
        {
            var app = TestApps.Quiet();
            app.Get("/.well-known/openid-configuration", (req, res) =>
            {
                DiscoveryReads++;
                res.Json = new Dictionary<string, object> { ["issuer"] = Issuer, ["jwks_uri"] = Issuer + "/jwks" };
            });
            app.Get("/jwks", (req, res) => res.Json = new Dictionary<string, object>
            {
                ["keys"] = Keys.Select(k => new Dictionary<string, string>
                {
                    ["kty"] = "RSA",
                    ["use"] = "sig",
                    ["alg"] = "RS256",
                    ["kid"] = k.KeyId,
                    ["n"] = Base64UrlEncoder.Encode(k.Rsa.ExportParameters(false).Modulus),
                    ["e"] = Base64UrlEncoder.Encode(k.Rsa.ExportParameters(false).Exponent),
                }).ToList(),
            });
            _server = app.CreateClient();
        }

        public string Issuer => _server.BaseAddress!.AbsoluteUri.TrimEnd('/');

        public List<RsaSecurityKey> Keys { get; set; } = [];

        public int DiscoveryReads { get; private set; }

        public string Issue(RsaSecurityKey key, string sub = "42") => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = "api",
            Claims = new Dictionary<string, object> { ["sub"] = sub },
            Expires = DateTime.UtcNow.AddMinutes(10),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });

        public ValueTask DisposeAsync() => _server.DisposeAsync();
    }

    private static RsaSecurityKey NewKey(string id) => new(RSA.Create(2048)) { KeyId = id };

    [Test]
    public async Task Keys_come_from_discovery_a_rotated_in_key_is_accepted_and_a_removed_one_refused()
    {
        await using var provider = new Provider();
        var first = NewKey("k1");
        var second = NewKey("k2");
        provider.Keys = [first];
        var app = TestApps.Quiet(s =>
        {
            s.JwtAuthority = provider.Issuer + "/";
            s.Jwt = new TokenValidationParameters { ValidAudience = "api" };
        });
        app.Get("/me", (req, res) => res.Text = req.User.Identity!.Name).Requires("authenticated");
        await using var client = app.CreateClient();

        var before = await client.SendAsync(Tokens.Get("/me", provider.Issue(first, "ana")));
        provider.Keys = [second];
        // (The configuration manager grants a refresh for an unknown key at once the first time, then at most every
        // RefreshInterval: the rotation is asked first, and the refresh runs in the background, so it is polled for.)
        var rotatedIn = false;
        await TestApps.UntilAsync(async () => rotatedIn = (await client.SendAsync(Tokens.Get("/me", provider.Issue(second, "bo")))).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        var removed = await client.SendAsync(Tokens.Get("/me", provider.Issue(first, "ana")));
        var otherIssuer = await client.SendAsync(Tokens.Get("/me", Tokens.Issue()));

        (await before.TextAsync()).Should().Be("ana");
        otherIssuer.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "a token from another issuer with a key the provider never published");
        rotatedIn.Should().BeTrue("a token naming a key not seen yet makes the app fetch the JWKS again");
        removed.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        removed.Headers.WwwAuthenticate.ToString().Should().StartWith("Bearer error=\"invalid_token\"");
        provider.DiscoveryReads.Should().BeInRange(1, 5, "discovery is cached, not read per request");
    }

    [Test]
    public void An_authority_without_an_audience_or_over_plain_http_fails_at_startup_saying_what_to_set()
    {
        var noAudience = TestApps.Quiet(s => s.JwtAuthority = "https://id.example/");
        var plainHttp = TestApps.Quiet(s =>
        {
            s.JwtAuthority = "http://id.example/";
            s.Jwt = new TokenValidationParameters { ValidAudience = "api" };
        });

        FluentActions.Invoking(() => noAudience.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*ValidAudience*");
        FluentActions.Invoking(() => plainHttp.CreateClient()).Should().Throw<InvalidOperationException>().WithMessage("*https*");
    }

    [Test]
    public async Task An_unreachable_authority_is_a_401_that_says_the_token_could_not_be_checked_not_a_500()
    {
        var app = TestApps.Quiet(s =>
        {
            s.JwtAuthority = $"http://127.0.0.1:{TestApps.FreePort()}/";
            s.Jwt = new TokenValidationParameters { ValidAudience = "api" };
        });
        app.Get("/me", (req, res) => res.Text = req.User.Identity!.Name).Requires("authenticated");
        app.Get("/open", (req, res) => res.Text = "open");
        await using var client = app.CreateClient();
        await using var provider = new Provider();

        var guarded = await client.SendAsync(Tokens.Get("/me", provider.Issue(NewKey("k1"))));
        var open = await client.SendAsync(Tokens.Get("/open", provider.Issue(NewKey("k1"))));

        guarded.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        guarded.Headers.WwwAuthenticate.ToString().Should().Be("Bearer error=\"invalid_token\", error_description=\"The token could not be checked.\"");
        (await open.TextAsync()).Should().Be("open");
    }
}
