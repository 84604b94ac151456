using System.Net;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using CsCheck;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Malformed and hostile requests over raw sockets: a clear 4xx, the server alive afterwards, nothing leaked.</summary>
public class HostileInputTests
{
    private static App NewApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        app.Route("/", (req, res) => res.Text = "alive");
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        app.Route("/echo/{text}", (Request req, Response res, string text) => res.Text = text);
        app.Post("/json", async (req, res) => res.Json = await req.JsonAsync());
        return app;
    }

    [TestCase("GARBAGE\r\n\r\n")]
    [TestCase("GET\r\n\r\n")]
    [TestCase("GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")]
    [TestCase("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n")]
    [TestCase("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")]
    [TestCase("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")]
    [TestCase("POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n")]
    [TestCase("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n")]
    [TestCase("GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]
    public async Task Malformed_requests_get_a_4xx_and_the_server_stays_up(string request)
    {
        await using var client = NewApp().CreateClient();

        var raw = await RawHttp.SendAsync(client.BaseAddress!, request);

        raw.Should().MatchRegex("^HTTP/1.1 4[0-9][0-9] ", because: "the request was malformed");
        raw.Should().NotContain("   at ", "no stack trace reaches the client");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task An_unknown_http_version_is_505_and_the_server_stays_up()
    {
        await using var client = NewApp().CreateClient();
        (await RawHttp.SendAsync(client.BaseAddress!, "GET / HTTP/9.9\r\nHost: x\r\n\r\n")).Should().StartWith("HTTP/1.1 505 ");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task The_trailing_slash_redirect_keeps_the_encoded_target_and_never_injects_headers()
    {
        var app = TestApps.Quiet();
        app.Route("/{name}/", (Request req, Response res, string name) => res.Text = name);
        await using var client = app.CreateClient();

        var raw = await RawHttp.GetAsync(client.BaseAddress!, "/a%0d%0aX-Injected:%201?q=1");

        raw.Should().StartWith("HTTP/1.1 302 ");
        raw.Should().Contain("Location: /a%0d%0aX-Injected:%201/?q=1");
        raw.Should().NotContain("\r\nX-Injected");
    }

    [Test]
    public async Task Oversized_headers_and_too_many_headers_are_431()
    {
        await using var client = NewApp(s =>
        {
            s.MaxRequestHeadersTotalSize = 4096;
            s.MaxRequestHeaderCount = 20;
        }).CreateClient();

        var big = await RawHttp.SendAsync(client.BaseAddress!, $"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 8000)}\r\n\r\n");
        var many = await RawHttp.SendAsync(client.BaseAddress!, "GET / HTTP/1.1\r\nHost: x\r\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"X-{i}: v\r\n")) + "\r\n");
        var longPath = await RawHttp.SendAsync(client.BaseAddress!, $"GET /{new string('p', 10_000)} HTTP/1.1\r\nHost: x\r\n\r\n");

        big.Should().StartWith("HTTP/1.1 431 ");
        many.Should().StartWith("HTTP/1.1 431 ");
        longPath.Should().MatchRegex("^HTTP/1.1 (414|431) ");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [TestCase("/items/99999999999999999999999999999", HttpStatusCode.BadRequest)]
    [TestCase("/items/-0x10", HttpStatusCode.BadRequest)]
    [TestCase("/items/1e5", HttpStatusCode.BadRequest)]
    [TestCase("/items/%00", HttpStatusCode.BadRequest)]
    [TestCase("/items/%E2%82%AC", HttpStatusCode.BadRequest)]
    [TestCase("/items/7/extra", HttpStatusCode.NotFound)]
    public async Task Absurd_route_parameters_are_4xx(string path, HttpStatusCode expected)
    {
        await using var client = NewApp().CreateClient();
        var response = await client.GetAsync(path);
        response.StatusCode.Should().Be(expected);
    }

    [Test]
    public async Task Decoded_text_parameters_round_trip_and_huge_ones_are_refused()
    {
        await using var client = NewApp().CreateClient();
        (await client.GetStringAsync("/echo/%F0%9F%8C%A1%EF%B8%8F%20hot")).Should().Be("🌡️ hot");
        var huge = await client.GetAsync("/echo/" + new string('x', 40_000));
        ((int)huge.StatusCode).Should().BeInRange(400, 499);
    }

    [Test]
    public void The_router_never_throws_on_arbitrary_paths()
    {
        var patterns = new[] { "/", "/items/{pk}", "/files/{rest:path}", "/v{version}/docs", "/{a}.{ext}", "/x/{}/y", "/users/{u}/posts/{p}" }
            .Select(RoutePattern.Parse).ToArray();
        Gen.String[Gen.Char, 0, 80].Sample(raw =>
        {
            var values = new RouteValues();
            var path = raw.StartsWith('/') ? raw : "/" + raw;
            foreach (var pattern in patterns)
            {
                if (!pattern.TryMatch(path, values.Captures)) continue;
                values.Set(path, pattern);
                foreach (var pair in values) path.Should().Contain(pair.Value);
            }
        }, iter: 20_000);
    }

    [Test]
    public void The_form_reader_only_throws_its_documented_exception()
    {
        var contentTypes = Gen.Const(0).Select(_ => 0).SelectMany(_ => Gen.Int[0, 5]).Select(i => new[] { "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "multipart/form-data", "multipart/form-data; boundary=\"\"", "text/plain", "garbage;;;=" }[i]);
        var bodies = Gen.OneOf(
            Gen.Byte.Array[0, 300],
            Gen.String[Gen.Char, 0, 200].Select(Encoding.UTF8.GetBytes),
            Gen.Select(Gen.String[Gen.Char.AlphaNumeric, 0, 20], Gen.String[Gen.Char, 0, 40], (name, value) =>
                Encoding.UTF8.GetBytes($"--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n--b--\r\n")));
        Gen.Select(contentTypes, bodies).Sample((contentType, body) =>
        {
            try
            {
                FormParser.ParseAsync(contentType, new MemoryStream(body), new Settings(), new UploadBudget(null), d => d.Dispose(), CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (HttpError e)
            {
                e.Status.Should().BeOneOf(400, 415);
            }
        }, iter: 3000);
    }
}
