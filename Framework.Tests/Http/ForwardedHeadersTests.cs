using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Http;

/// <summary>X-Forwarded-* are believed only from TrustedProxies (API.md), never otherwise.</summary>
public class ForwardedHeadersTests
{
    private static App EchoApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        app.Route("/who", (req, res) => res.Json = new { client = req.Client.Host, scheme = req.Url.Scheme, host = req.Url.Authority });
        return app;
    }

    private static HttpRequestMessage Forwarded(string path, string proto = "https") => new(HttpMethod.Get, path)
    {
        Headers =
        {
            { "X-Forwarded-For", "203.0.113.7, 10.0.0.2" },
            { "X-Forwarded-Proto", proto },
            { "X-Forwarded-Host", "example.com" },
        },
    };

    [Test]
    public async Task From_anyone_else_forwarded_headers_are_ignored()
    {
        await using var client = EchoApp().CreateClient();
        var body = await (await client.SendAsync(Forwarded("/who"))).JsonAsync();

        body.GetProperty("client").GetString().Should().Be("127.0.0.1");
        body.GetProperty("scheme").GetString().Should().Be("http");
        body.GetProperty("host").GetString().Should().Be(client.BaseAddress!.Authority);
    }

    [Test]
    public async Task From_a_trusted_proxy_they_give_the_client_scheme_and_host()
    {
        await using var client = EchoApp(s => s.TrustedProxies = ["127.0.0.1", "10.0.0.0/8"]).CreateClient();
        var body = await (await client.SendAsync(Forwarded("/who"))).JsonAsync();

        body.GetProperty("client").GetString().Should().Be("203.0.113.7", "10.0.0.2 is a trusted proxy too; the first untrusted hop is the client");
        body.GetProperty("scheme").GetString().Should().Be("https");
        body.GetProperty("host").GetString().Should().Be("example.com");
    }

    [Test]
    public async Task The_forwarded_host_is_the_one_the_proxy_appended_and_is_checked_against_AllowedHosts()
    {
        await using var client = EchoApp(s =>
        {
            s.TrustedProxies = ["127.0.0.1"];
            s.AllowedHosts = ["example.com", "127.0.0.1"];
        }).CreateClient();

        // A client's own value first, the proxy's appended last: the proxy's counts.
        using var appended = new HttpRequestMessage(HttpMethod.Get, "/who") { Headers = { { "X-Forwarded-Host", "evil.example, example.com" } } };
        (await (await client.SendAsync(appended)).JsonAsync()).GetProperty("host").GetString().Should().Be("example.com");

        // A forwarded host outside AllowedHosts is refused like a Host header would be.
        using var outside = new HttpRequestMessage(HttpMethod.Get, "/who") { Headers = { { "X-Forwarded-Host", "evil.example" } } };
        var refused = await client.SendAsync(outside);
        refused.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await refused.Content.ReadAsStringAsync()).Should().Contain("forwarded host");
    }

    [Test]
    public async Task Behind_a_trusted_tls_proxy_hsts_does_not_loop_and_session_cookies_are_secure()
    {
        var app = TestApps.Quiet(s =>
        {
            s.TrustedProxies = ["127.0.0.1"];
            s.Hsts = true;
            s.Sessions = true;
            s.SecretKey = new string('k', 40);
        });
        app.Route("/", (req, res) =>
        {
            req.Session["seen"] = "yes";
            res.Text = "secure";
        });
        await using var client = app.CreateClient();

        using var viaTls = await client.SendAsync(Forwarded("/"));
        viaTls.StatusCode.Should().Be(HttpStatusCode.OK, "the proxy terminated TLS: no redirect to https");
        viaTls.Headers.GetValues("Strict-Transport-Security").Should().ContainSingle();
        viaTls.Headers.GetValues("Set-Cookie").Should().ContainSingle(c => c.Contains("secure", StringComparison.OrdinalIgnoreCase));

        using var plain = await client.SendAsync(Forwarded("/", proto: "http"));
        plain.StatusCode.Should().Be(HttpStatusCode.MovedPermanently);
        plain.Headers.Location!.ToString().Should().StartWith("https://example.com/");
    }

    [Test]
    public void A_bad_entry_is_explained()
    {
        var app = new App();
        FluentActions.Invoking(() => app.Configure(s => s.TrustedProxies = ["proxy.internal"]))
            .Should().Throw<ArgumentException>().WithMessage("*neither an IP address*");
    }
}
