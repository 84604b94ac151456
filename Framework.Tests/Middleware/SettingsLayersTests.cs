using System.IO.Compression;
using System.Net;
using System.Runtime.CompilerServices;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Middleware;

/// <summary>The layers turned on by settings: CORS, compression, HSTS.</summary>
public class SettingsLayersTests
{
    private static readonly string Big = string.Concat(Enumerable.Repeat("compress me please ", 200));

    [Test]
    public async Task Cors_answers_preflights_and_marks_responses_for_allowed_origins_only()
    {
        var app = TestApps.Quiet(s => s.Cors = new CorsSettings
        {
            AllowOrigins = ["https://app.example"],
            AllowMethods = ["GET", "POST"],
            AllowHeaders = ["Content-Type", "X-Token"],
            ExposeHeaders = ["X-Total"],
        });
        app.Route("/items", (req, res) => { res.Headers["X-Total"] = "3"; res.Json = new[] { 1, 2, 3 }; }, "GET", "POST");
        await using var client = app.CreateClient();

        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/items");
        preflight.Headers.Add("Origin", "https://app.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "content-type, x-token");
        var answer = await client.SendAsync(preflight);
        answer.StatusCode.Should().Be(HttpStatusCode.NoContent);
        answer.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("https://app.example");
        answer.Headers.GetValues("Access-Control-Allow-Methods").Single().Should().Contain("POST");
        answer.Headers.GetValues("Access-Control-Max-Age").Should().Equal("600");

        using var simple = new HttpRequestMessage(HttpMethod.Get, "/items");
        simple.Headers.Add("Origin", "https://app.example");
        var response = await client.SendAsync(simple);
        response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("https://app.example");
        response.Headers.GetValues("Access-Control-Expose-Headers").Should().Equal("X-Total");
        response.Headers.Vary.Should().Contain("Origin");

        using var other = new HttpRequestMessage(HttpMethod.Get, "/items");
        other.Headers.Add("Origin", "https://evil.example");
        (await client.SendAsync(other)).Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();

        using var badPreflight = new HttpRequestMessage(HttpMethod.Options, "/items");
        badPreflight.Headers.Add("Origin", "https://app.example");
        badPreflight.Headers.Add("Access-Control-Request-Method", "DELETE");
        (await client.SendAsync(badPreflight)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task Cors_answers_vary_by_origin_whatever_the_origin_so_caches_never_mix_them()
    {
        // A response that depends on Origin must say so even when it carries no CORS header (no Origin, or one refused):
        // else a shared cache can serve the header-less copy to the allowed origin, or the allowed copy to another.
        var app = TestApps.Quiet(s => s.Cors = new CorsSettings { AllowOrigins = ["https://app.example"] });
        app.Route("/items", (req, res) => res.Json = new[] { 1, 2, 3 });
        await using var client = app.CreateClient();

        (await client.GetAsync("/items")).Headers.Vary.Should().Contain("Origin", "no Origin");
        using var other = new HttpRequestMessage(HttpMethod.Get, "/items") { Headers = { { "Origin", "https://evil.example" } } };
        var refused = await client.SendAsync(other);
        refused.Headers.Vary.Should().Contain("Origin", "a refused origin");
        refused.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
    }

    [Test]
    public void Cors_refuses_credentials_with_any_origin() =>
        FluentActions.Invoking(() => TestApps.Quiet(s => s.Cors = new CorsSettings { AllowOrigins = ["*"], AllowCredentials = true }))
            .Should().Throw<ArgumentException>().WithMessage("*AllowCredentials*");

    [TestCase("gzip", "gzip")]
    [TestCase("br", "br")]
    [TestCase("gzip, br", "br")]
    [TestCase("br;q=0, gzip", "gzip")]
    [TestCase("identity", null)]
    public async Task Gzip_compresses_large_text_bodies_as_the_client_accepts(string accept, string? expected)
    {
        var app = TestApps.Quiet(s => s.Gzip = true);
        app.Route("/big", (req, res) => res.Text = Big);
        app.Route("/small", (req, res) => res.Text = "tiny");
        await using var client = app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/big");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", accept);

        var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        if (expected is null)
        {
            response.Content.Headers.ContentEncoding.Should().BeEmpty();
            System.Text.Encoding.UTF8.GetString(body).Should().Be(Big);
            return;
        }
        response.Content.Headers.ContentEncoding.Should().Equal(expected);
        response.Headers.Vary.Should().Contain("Accept-Encoding");
        body.Length.Should().BeLessThan(Big.Length / 5);
        using Stream decompressor = expected == "br" ? new BrotliStream(new MemoryStream(body), CompressionMode.Decompress) : new GZipStream(new MemoryStream(body), CompressionMode.Decompress);
        (await new StreamReader(decompressor).ReadToEndAsync()).Should().Be(Big);

        using var small = new HttpRequestMessage(HttpMethod.Get, "/small");
        small.Headers.TryAddWithoutValidation("Accept-Encoding", accept);
        (await client.SendAsync(small)).Content.Headers.ContentEncoding.Should().BeEmpty();
    }

    [Test]
    public async Task Gzip_never_touches_event_streams()
    {
        var app = TestApps.Quiet(s => s.Gzip = true);
        app.Route("/feed", (req, res) => res.EventStream(Events()));
        static async IAsyncEnumerable<ServerEvent> Events([EnumeratorCancellation] CancellationToken ct = default)
        {
            await Task.Yield();
            yield return new ServerEvent(data: Big);
        }
        await using var client = app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/feed");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br");

        var response = await client.SendAsync(request);

        response.Content.Headers.ContentEncoding.Should().BeEmpty();
        (await response.Content.ReadAsStringAsync()).Should().Be($"data: {Big}\n\n");
    }

    [Test]
    public async Task Hsts_redirects_http_to_https_and_marks_https_responses()
    {
        var app = TestApps.Quiet(s => s.Hsts = true);
        app.Route("/page", (req, res) => res.Text = "secure");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/page?x=1");

        response.StatusCode.Should().Be(HttpStatusCode.MovedPermanently);
        response.Headers.Location!.ToString().Should().StartWith("https://").And.EndWith("/page?x=1");

        using var certificate = TestCertificates.SelfSigned();
        var secure = TestApps.Quiet(s => { s.Hsts = true; s.Certificate = certificate; });
        secure.Route("/page", (req, res) => res.Text = "secure");
        await using var running = await secure.StartAsync("127.0.0.1", 0);
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString();
        using var https = new HttpClient(handler);
        var ok = await https.GetAsync(running.Url + "/page");
        ok.Headers.GetValues("Strict-Transport-Security").Single().Should().StartWith("max-age=31536000");
    }
}
