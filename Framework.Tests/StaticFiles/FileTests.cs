using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.StaticFiles;

public class FileTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateFiles()
    {
        _dir = Path.Combine(Path.GetTempPath(), "bocata-files-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(_dir, "public", "sub"));
        File.WriteAllText(Path.Combine(_dir, "public", "hello.txt"), "0123456789");
        File.WriteAllText(Path.Combine(_dir, "public", "style.css"), "body{}");
        File.WriteAllText(Path.Combine(_dir, "public", "sub", "index.html"), "<h1>sub</h1>");
        File.WriteAllText(Path.Combine(_dir, "secret.txt"), "top secret");
    }

    [TearDown]
    public void DeleteFiles() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Sends_a_file_with_type_validators_and_conditional_304()
    {
        var app = TestApps.Quiet();
        app.Route("/file", (req, res) => res.File(Path.Combine(_dir, "public", "hello.txt")));
        app.Route("/download", (req, res) => res.File(Path.Combine(_dir, "public", "hello.txt"), attach: true));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/file");
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
        (await response.TextAsync()).Should().Be("0123456789");
        var etag = response.Headers.ETag!;
        response.Content.Headers.LastModified.Should().NotBeNull();

        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/file");
        conditional.Headers.IfNoneMatch.Add(etag);
        var notModified = await client.SendAsync(conditional);
        notModified.StatusCode.Should().Be(HttpStatusCode.NotModified);
        (await notModified.Content.ReadAsByteArrayAsync()).Should().BeEmpty();

        using var byDate = new HttpRequestMessage(HttpMethod.Get, "/file");
        byDate.Headers.IfModifiedSince = response.Content.Headers.LastModified;
        (await client.SendAsync(byDate)).StatusCode.Should().Be(HttpStatusCode.NotModified);

        var download = await client.GetAsync("/download");
        download.Content.Headers.ContentDisposition!.FileName.Should().Contain("hello.txt");
    }

    [TestCase("bytes=2-4", 206, "234", "bytes 2-4/10")]
    [TestCase("bytes=7-", 206, "789", "bytes 7-9/10")]
    [TestCase("bytes=-3", 206, "789", "bytes 7-9/10")]
    [TestCase("bytes=0-100", 200, "0123456789", null)]
    [TestCase("bytes=20-30", 416, "", "bytes */10")]
    [TestCase("bytes=0-1,4-5", 200, "0123456789", null)]
    public async Task Answers_single_byte_ranges(string range, int status, string body, string? contentRange)
    {
        var app = TestApps.Quiet();
        app.Route("/file", (req, res) => res.File(Path.Combine(_dir, "public", "hello.txt")));
        await using var client = app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/file");
        request.Headers.TryAddWithoutValidation("Range", range);

        var response = await client.SendAsync(request);

        ((int)response.StatusCode).Should().Be(status);
        (await response.TextAsync()).Should().Be(body);
        response.Content.Headers.ContentRange?.ToString().Should().Be(contentRange);
    }

    [Test]
    public async Task Static_files_are_served_under_a_mount_and_never_outside_their_folder()
    {
        var app = TestApps.Quiet();
        app.Mount("/assets", Static.Files(Path.Combine(_dir, "public")));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/assets/hello.txt")).Should().Be("0123456789");
        (await client.GetAsync("/assets/style.css")).Content.Headers.ContentType!.MediaType.Should().Be("text/css");
        (await client.GetStringAsync("/assets/sub/")).Should().Be("<h1>sub</h1>");
        (await client.GetAsync("/assets/nope.txt")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await client.PostAsync("/assets/hello.txt", null)).StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);

        foreach (var attack in new[] { "/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/..%2fsecret.txt", "/assets/sub/..%2f..%2fsecret.txt", "/assets/..%5csecret.txt", "/assets/%2e%2e%5csecret.txt" })
        {
            var raw = await RawHttp.GetAsync(client.BaseAddress!, attack);
            raw.Should().NotContain("top secret", because: $"{attack} must not escape the folder");
            raw.Should().MatchRegex("^HTTP/1.1 (400|404) ");
        }
    }

    [Test]
    public async Task Symbolic_links_that_leave_the_folder_are_not_followed()
    {
        File.CreateSymbolicLink(Path.Combine(_dir, "public", "leak.txt"), Path.Combine(_dir, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(_dir, "public", "up"), _dir);
        File.CreateSymbolicLink(Path.Combine(_dir, "public", "alias.txt"), Path.Combine(_dir, "public", "hello.txt"));
        var app = TestApps.Quiet();
        app.Mount("/assets", Static.Files(Path.Combine(_dir, "public")));
        await using var client = app.CreateClient();

        (await client.GetAsync("/assets/leak.txt")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await client.GetAsync("/assets/up/secret.txt")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await client.GetStringAsync("/assets/alias.txt")).Should().Be("0123456789", "a link that stays inside the folder is fine");
    }

    [Test]
    public async Task The_static_folder_setting_serves_files_at_static_root()
    {
        var app = new App();
        app.Configure(s =>
        {
            s.AccessLog = false;
            s.StaticDir = Path.Combine(_dir, "public");
            s.StaticRoot = "/files";
        });
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/files/hello.txt")).Should().Be("0123456789");
    }
}
