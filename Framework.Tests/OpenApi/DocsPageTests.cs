using System.IO.Compression;
using System.Net;
using System.Text.RegularExpressions;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>The /docs page's routes over real sockets: the HTML and its hashed assets, their types, caching, CSP and escaping.</summary>
public sealed class DocsPageTests
{
    private TestClient _client = null!;

    [OneTimeSetUp]
    public void Start() => _client = ItemsDocsApp.Create().CreateClient();

    [OneTimeTearDown]
    public async Task Stop() => await _client.DisposeAsync();

    [Test]
    public async Task The_page_is_html_under_a_strict_content_security_policy()
    {
        var response = await _client.GetAsync("/docs");

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        response.Content.Headers.ContentType.CharSet.Should().Be("utf-8");
        var csp = string.Join(",", response.Headers.GetValues("Content-Security-Policy"));
        csp.Should().Contain("default-src 'none'").And.Contain("script-src 'self'").And.Contain("style-src 'self'").And.Contain("connect-src 'self'");
        csp.Should().NotContain("unsafe-inline").And.NotContain("unsafe-eval").And.NotContain("http");
        response.Headers.GetValues("X-Content-Type-Options").Should().Equal("nosniff");
        response.Headers.CacheControl!.NoCache.Should().BeTrue("the page keeps its URL across releases, so it is revalidated");
        response.Headers.ETag.Should().NotBeNull();
    }

    [Test]
    public async Task The_page_has_no_inline_script_or_style_and_names_the_document()
    {
        var html = await _client.GetStringAsync("/docs");

        Regex.Matches(html, "<script[^>]*>").Should().OnlyContain(m => m.Value.Contains("src=\"/docs/assets/"));
        Regex.Matches(html, "<script[^>]*>\\s*[^<\\s]").Should().BeEmpty("a script element with a body would be inline script");
        html.Should().NotContain("<style").And.NotContain(" style=").And.NotContain(" on");
        html.Should().Contain("<meta name=\"openapi-document\" content=\"/openapi.json\">");
        html.Should().NotContain("http://").And.NotContain("https://", "nothing is fetched from elsewhere");
    }

    [Test]
    public async Task The_title_is_html_escaped()
    {
        var html = await _client.GetStringAsync("/docs");

        html.Should().Contain("<title>Items &lt;API&gt; &amp; &quot;co&quot;</title>");
        html.Should().NotContain(ItemsDocsApp.Title);
    }

    [Test]
    public async Task Assets_are_served_with_their_content_type_and_cached_for_a_year_by_content_hash()
    {
        var assets = await AssetPathsAsync();
        assets.Should().HaveCount(2);

        foreach (var path in assets)
        {
            var response = await _client.GetAsync(path);
            response.StatusCode.Should().Be(HttpStatusCode.OK, path);
            response.Content.Headers.ContentType!.MediaType.Should().Be(path.EndsWith(".js") ? "text/javascript" : "text/css");
            response.Headers.CacheControl!.MaxAge.Should().Be(TimeSpan.FromDays(365));
            response.Headers.CacheControl.Public.Should().BeTrue();
            response.Headers.CacheControl.Extensions.Should().Contain(e => e.Name == "immutable");
            var hash = Regex.Match(path, "docs\\.([0-9a-f]{16})\\.").Groups[1].Value;
            response.Headers.ETag!.Tag.Should().Be($"\"{hash}\"", "the ETag is the hash in the URL");
            var bytes = await response.Content.ReadAsByteArrayAsync();
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes).AsSpan(0, 8)).Should().Be(hash, "the URL names its content");
        }
    }

    [Test]
    public async Task A_known_etag_is_answered_with_304_and_no_body()
    {
        foreach (var path in (await AssetPathsAsync()).Append("/docs"))
        {
            var first = await _client.GetAsync(path);
            using var conditional = new HttpRequestMessage(HttpMethod.Get, path);
            conditional.Headers.IfNoneMatch.Add(first.Headers.ETag!);
            var again = await _client.SendAsync(conditional);

            again.StatusCode.Should().Be(HttpStatusCode.NotModified, path);
            (await again.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
            again.Headers.ETag.Should().Be(first.Headers.ETag);
        }
    }

    [Test]
    public async Task An_unknown_asset_is_404_and_the_document_route_is_left_to_the_app()
    {
        (await _client.GetAsync("/docs/assets/docs.0000000000000000.js")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        var document = await _client.GetAsync("/openapi.json");
        (await document.Content.ReadAsStringAsync()).Should().Contain("\"openapi\": \"3.2.0\"");
    }

    [Test]
    public async Task Assets_are_compressed_when_the_app_compresses()
    {
        await using var client = ItemsDocsApp.Create(s => s.Gzip = true).CreateClient();
        var script = (await AssetPathsAsync(client)).Single(p => p.EndsWith(".js"));
        var plain = await (await client.GetAsync(script)).Content.ReadAsByteArrayAsync();

        using var request = new HttpRequestMessage(HttpMethod.Get, script);
        request.Headers.AcceptEncoding.ParseAdd("gzip");
        var response = await client.SendAsync(request);

        response.Content.Headers.ContentEncoding.Should().Equal("gzip");
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/javascript");
        var compressed = await response.Content.ReadAsByteArrayAsync();
        using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var unzipped = new MemoryStream();
        await gzip.CopyToAsync(unzipped);
        unzipped.ToArray().Should().Equal(plain);
        TestContext.Out.WriteLine($"{script}: {plain.Length} B, {compressed.Length} B gzipped (the app's CompressionLevel.Fastest)");
    }

    [Test]
    public void A_docs_path_without_a_leading_slash_is_refused_with_the_fix()
    {
        var app = TestApps.Quiet();

        var act = () => DocsPage.Map(app, "docs", "/openapi.json", "API");

        act.Should().Throw<ArgumentException>().WithMessage("*docsPath must be a plain path that starts with '/'*\"/docs\"*");
    }

    [Test]
    public void The_page_is_mounted_under_any_prefix()
    {
        var html = System.Text.Encoding.UTF8.GetString(DocsPage.Render("API", "/api/openapi.json", "/api/docs/assets/docs.1.js", "/api/docs/assets/docs.1.css"));

        html.Should().Contain("content=\"/api/openapi.json\"").And.Contain("src=\"/api/docs/assets/docs.1.js\"").And.Contain("href=\"/api/docs/assets/docs.1.css\"");
        html.Should().NotContain("%");
    }

    private Task<List<string>> AssetPathsAsync() => AssetPathsAsync(_client);

    private static async Task<List<string>> AssetPathsAsync(HttpClient client)
    {
        var html = await client.GetStringAsync("/docs");
        return Regex.Matches(html, "(?:src|href)=\"(/docs/assets/[^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
    }
}
