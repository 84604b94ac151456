using System.Net;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.StaticFiles;

/// <summary>`{rest:path}` + a file: the attack `GET /files//etc/hostname` read any file (the capture was absolute).</summary>
public class SafeFileTests
{
    [Test]
    public async Task A_path_capture_never_holds_an_empty_segment_and_the_rooted_form_of_file_stays_inside()
    {
        var dir = Directory.CreateTempSubdirectory("bocata-safe").FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "notes.txt"), "inside");
        var app = TestApps.Quiet();
        app.Route("/files/{rest:path}", (Request req, Response res, string rest) => res.File(dir, rest, attach: false));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/files/notes.txt")).Should().Be("inside");
        (await RawHttp.GetAsync(client.BaseAddress!, "/files//etc/hostname")).Should().StartWith("HTTP/1.1 404");
        (await RawHttp.GetAsync(client.BaseAddress!, "/files/a//etc/hostname")).Should().StartWith("HTTP/1.1 404");
        (await RawHttp.GetAsync(client.BaseAddress!, "/files/..%2F..%2F..%2Fetc%2Fhostname")).Should().StartWith("HTTP/1.1 404");
        (await client.GetAsync("/files/missing.txt")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void The_rooted_form_refuses_absolute_and_parent_paths_before_touching_the_disk()
    {
        var res = new Response();
        FluentActions.Invoking(() => res.File("/tmp", "/etc/hostname")).Should().Throw<HttpError>().Which.StatusCode.Should().Be(404);
        FluentActions.Invoking(() => res.File("/tmp", "../etc/hostname")).Should().Throw<HttpError>().Which.StatusCode.Should().Be(404);
    }
}

/// <summary>DoS issue, item 10: static folders serve hidden files and unknown types only when asked (ASP.NET Core's rule).</summary>
public class StaticFileRulesTests
{
    private string _dir = "";

    [SetUp]
    public void CreateFolder()
    {
        _dir = Directory.CreateTempSubdirectory("bocata-static").FullName;
        File.WriteAllText(Path.Combine(_dir, ".env"), "SECRET_KEY=hunter2");
        Directory.CreateDirectory(Path.Combine(_dir, ".git"));
        File.WriteAllText(Path.Combine(_dir, ".git", "config"), "[core]");
        Directory.CreateDirectory(Path.Combine(_dir, ".well-known"));
        File.WriteAllText(Path.Combine(_dir, ".well-known", "security.txt"), "Contact: x");
        File.WriteAllText(Path.Combine(_dir, "dump.sqlbak"), "rows");
        File.WriteAllText(Path.Combine(_dir, "app.css"), "body{}");
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Hidden_files_and_unknown_types_are_404_by_default()
    {
        var app = TestApps.Quiet();
        app.Mount("/static", Static.Files(_dir));
        app.Route("/files/{rest:path}", (Request req, Response res, string rest) => res.File(_dir, rest));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/static/app.css")).Should().Be("body{}");
        foreach (var path in new[] { "/static/.env", "/static/.git/config", "/static/.well-known/security.txt", "/static/dump.sqlbak", "/files/.env", "/files/.git/config" })
            (await client.GetAsync(path)).StatusCode.Should().Be(HttpStatusCode.NotFound, path);
    }

    [Test]
    public async Task Opting_in_serves_them_and_max_age_sets_cache_control()
    {
        var app = TestApps.Quiet();
        app.Mount("/static", Static.Files(_dir, maxAge: TimeSpan.FromHours(1), serveDotfiles: true, serveUnknownFileTypes: true));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/static/.well-known/security.txt");
        (await response.TextAsync()).Should().Be("Contact: x");
        response.Headers.CacheControl!.ToString().Should().Be("public, max-age=3600");
        var unknown = await client.GetAsync("/static/dump.sqlbak");
        unknown.Content.Headers.ContentType!.MediaType.Should().Be("application/octet-stream");
        FluentActions.Invoking(() => Static.Files(_dir, maxAge: TimeSpan.FromSeconds(-1))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*negative*");
    }
}
