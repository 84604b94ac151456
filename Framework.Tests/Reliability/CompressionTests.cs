using System.IO.Compression;
using System.Net;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Review defects 1 and 2: compression decided once, before any header goes out, and Accept-Encoding weights honoured.</summary>
public class CompressionTests
{
    private static readonly string Big = string.Concat(Enumerable.Repeat("compress me please, ", 200));

    private static async Task<(HttpResponseMessage Response, string Body)> GetAsync(TestClient client, string path, string? accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept-Encoding", accept);
        var response = await client.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Stream body = new MemoryStream(bytes);
        var coding = response.Content.Headers.ContentEncoding.SingleOrDefault();
        if (coding == "gzip") body = new GZipStream(body, CompressionMode.Decompress);
        if (coding == "br") body = new BrotliStream(body, CompressionMode.Decompress);
        return (response, await new StreamReader(body, Encoding.UTF8).ReadToEndAsync());
    }

    [TestCase("json")]
    [TestCase("bytes")]
    [TestCase("text")]
    public async Task Gzip_with_a_chunked_body_is_compressed_and_chunked_instead_of_resetting_the_connection(string kind)
    {
        var app = TestApps.Quiet(s => s.Gzip = true);
        app.Route("/chunked", (req, res) =>
        {
            res.Chunked = true;
            switch (kind)
            {
                case "json": res.Json = new { text = Big }; break;
                case "bytes": res.Content = Encoding.UTF8.GetBytes(Big); break;
                default: res.Text = Big; break;
            }
        });
        await using var client = app.CreateClient();

        var (response, body) = await GetAsync(client, "/chunked", "gzip");

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Headers.TransferEncodingChunked.Should().BeTrue();
        response.Content.Headers.NonValidated.Contains("Content-Length").Should().BeFalse();
        response.Content.Headers.ContentEncoding.Should().Equal("gzip");
        response.Headers.Vary.Should().Contain("Accept-Encoding");
        body.Should().Contain(Big.TrimEnd());
    }

    [TestCase("*, br;q=0", "gzip")]
    [TestCase("*;q=0, gzip", "gzip")]
    [TestCase("*;q=0", null)]
    [TestCase("br;q=0, gzip;q=0, *", null)]
    [TestCase("gzip;q=0.5, br;q=0.5", "br")]
    [TestCase("gzip, br;q=0.9", "gzip")]
    [TestCase("identity", null)]
    [TestCase("*", "br")]
    [TestCase("GZIP", "gzip")]
    public async Task Accept_encoding_weights_decide_the_coding(string accept, string? expected)
    {
        var app = TestApps.Quiet(s => s.Gzip = true);
        app.Route("/big", (req, res) => res.Text = Big);
        await using var client = app.CreateClient();

        var (response, body) = await GetAsync(client, "/big", accept);

        if (expected is null) response.Content.Headers.ContentEncoding.Should().BeEmpty();
        else response.Content.Headers.ContentEncoding.Should().Equal(expected);
        body.Should().Be(Big);
    }

    [Test]
    public async Task With_a_zero_minimum_an_empty_response_is_compressed_as_in_Bocadillo()
    {
        // Bocadillo's tests/test_gzip.py: gzip_min_size=0, a handler that sets nothing, Accept-Encoding: gzip → Content-Encoding: gzip.
        var app = TestApps.Quiet(s => { s.Gzip = true; s.GzipMinSize = 0; });
        app.Route("/", (req, res) => { });
        await using var client = app.CreateClient();

        var (response, body) = await GetAsync(client, "/", "gzip");

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentEncoding.Should().Equal("gzip");
        body.Should().BeEmpty();
    }

    [Test]
    public async Task Bodies_under_the_minimum_and_heads_are_sent_plain_with_the_right_length()
    {
        var app = TestApps.Quiet(s => s.Gzip = true);
        app.Route("/small", (req, res) => res.Json = new { ok = true });
        app.Route("/big", (req, res) => res.Text = Big);
        await using var client = app.CreateClient();

        var (small, smallBody) = await GetAsync(client, "/small", "gzip");
        small.Content.Headers.ContentEncoding.Should().BeEmpty();
        smallBody.Should().Be("{\"ok\":true}");

        using var head = new HttpRequestMessage(HttpMethod.Head, "/big");
        head.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip");
        var headResponse = await client.SendAsync(head);
        headResponse.Content.Headers.ContentEncoding.Should().Equal("gzip");
        var (get, _) = await GetAsync(client, "/big", "gzip");
        headResponse.Content.Headers.ContentLength.Should().Be(get.Content.Headers.ContentLength).And.BeLessThan(Big.Length / 5);
    }
}
