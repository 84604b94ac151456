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
